"""OpenAI `tools` / `tool_choice` checking, and parsing `<tool_call>` markup into validated `ToolCall`s.

Both supported chat styles (Qwen's native template and ragloop's prompted one) ask the model to answer a
call as `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from local_models.grammars import check_schema, validator_for
from local_models.types import InvalidRequestError, ToolCall

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
CALL_PREFIX = OPEN_TAG + "\n"  # what a constrained call starts with
CALL_SUFFIX = "\n" + CLOSE_TAG  # and ends with

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_BLOCK = re.compile(re.escape(OPEN_TAG) + r"(.*?)(?:" + re.escape(CLOSE_TAG) + r"|$)", re.DOTALL)

ToolMode = Literal["none", "auto", "required"]


@dataclass(frozen=True)
class ToolSet:
    """Checked tool definitions: the OpenAI dicts (for the template) and name → parameters schema."""

    definitions: list[dict[str, Any]]
    parameters: dict[str, dict[str, Any]]


def check_tools(tools: Any) -> ToolSet:
    """Validate an OpenAI `tools` list. Raises `InvalidRequestError(param="tools")`."""
    if not isinstance(tools, list) or not tools:
        raise InvalidRequestError("tools must be a non-empty list of function definitions.", "tools")
    definitions: list[dict[str, Any]] = []
    parameters: dict[str, dict[str, Any]] = {}
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise InvalidRequestError(
                f'{where} must look like {{"type": "function", "function": {{"name": ..., "parameters": {{...}}}}}}.',
                "tools",
            )
        function = tool["function"]
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequestError(f"{where}.function.name must match [a-zA-Z0-9_-]{{1,64}}, got {name!r}.", "tools")
        if name in parameters:
            raise InvalidRequestError(f"{where}: the tool name {name!r} is used twice.", "tools")
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidRequestError(f"{where}.function.description must be a string.", "tools")
        schema = function.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        check_schema(schema, "tools", f"{where}.function.parameters")
        if schema.get("type") != "object":
            raise InvalidRequestError(f'{where}.function.parameters must have "type": "object".', "tools")
        parameters[name] = closed_schema(schema)  # what calls are checked and constrained against
        definitions.append({"type": "function", "function": {**function, "parameters": schema}})
    return ToolSet(definitions, parameters)


def closed_schema(node: Any) -> Any:
    """`node` with every object schema that does not say otherwise closed (`additionalProperties: false`).

    A tool's arguments are the properties its schema names: a small model that writes the schema itself as the
    arguments (`{"type": "object"}` for a tool without parameters) is refused and the call is generated again
    under the grammar, instead of reaching the tool."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in ("properties", "patternProperties", "$defs", "definitions"):  # name -> schema maps
        if isinstance(node.get(key), dict):
            out[key] = {name: closed_schema(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties", "not", "if", "then", "else", "contains"):
        if isinstance(node.get(key), dict):
            out[key] = closed_schema(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            out[key] = [closed_schema(sub) for sub in node[key]]
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and "additionalProperties" not in node and "patternProperties" not in node:
        out["additionalProperties"] = False
        out.setdefault("properties", {})
    return out


def resolve_tool_choice(tool_choice: Any, tools: ToolSet | None) -> tuple[ToolMode, list[str]]:
    """Return the mode and the names a call may use. Raises `InvalidRequestError(param="tool_choice")`."""
    if tool_choice is None:
        tool_choice = "auto" if tools else "none"
    if tool_choice == "none":
        return "none", []
    if tools is None:
        raise InvalidRequestError(f"tool_choice {tool_choice!r} needs a tools list.", "tool_choice")
    if tool_choice in ("auto", "required"):
        return tool_choice, list(tools.parameters)
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in tools.parameters:
            raise InvalidRequestError(
                f"tool_choice names the function {name!r}, which is not in tools ({', '.join(tools.parameters)}).",
                "tool_choice",
            )
        return "required", [name]
    raise InvalidRequestError(
        'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}.',
        "tool_choice",
    )


class ToolCallError(ValueError):
    """The model's call markup does not parse or validate; `name` is set when the name itself was fine."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def parse_call(body: str, parameters: dict[str, dict[str, Any]]) -> ToolCall:
    """Parse the JSON between the tags into a `ToolCall` whose arguments validate. Raises `ToolCallError`."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ToolCallError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ToolCallError('expected {"name": ..., "arguments": {...}}')
    name = data["name"]
    if name not in parameters:
        raise ToolCallError(f"unknown tool {name!r}")
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ToolCallError(f"arguments are not JSON: {exc}", name) from exc
    try:
        validator_for(parameters[name]).validate(arguments)
    except jsonschema.ValidationError as exc:
        raise ToolCallError(f"arguments do not match the schema: {exc.message}", name) from exc
    return ToolCall(id=new_call_id(), name=name, arguments=json.dumps(arguments, ensure_ascii=False))


def split_calls(text: str) -> list[str]:
    """The bodies of every `<tool_call>` block in `text` (an unclosed last block counts too)."""
    return [match.group(1).strip() for match in _BLOCK.finditer(text)]
