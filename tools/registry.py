"""The tool registry: a tool is a plain typed Python function.

Its JSON schema comes from the type hints (through pydantic) and its description from the docstring: the first
paragraph describes the tool, a Google-style `Args:` section describes the parameters. Both are checked when the
function is registered, so a tool with a missing hint or description fails at start-up, not in front of a model.

`schemas()` gives the OpenAI `tools` list; `execute()` validates the model's JSON arguments and runs the tool.
Every failure the model can cause or the tool can hit at run time (unknown tool, bad JSON, invalid arguments,
an exception inside the tool) comes back as text for the model, with `error` set so the caller can record it.
The MCP server and client (a later issue) extend this module; the same function serves both.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class ToolDefinitionError(Exception):
    """A function cannot be a tool (missing type hints or docstring, bad name, duplicate). A developer error."""


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    fn: Callable[..., Any]
    arguments: type[BaseModel]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class ToolOutcome:
    content: str  # what goes back to the model as the tool message
    error: str | None = None  # set when the call failed (the content then explains the failure to the model)


class ToolRegistry:
    def __init__(self, tools: list[Callable[..., Any]] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for fn in tools or []:
            self.register(fn)

    def register(self, fn: Callable[..., Any], *, name: str | None = None) -> Tool:
        tool = tool_from_function(fn, name=name)
        if tool.name in self._tools:
            raise ToolDefinitionError(f"A tool named {tool.name!r} is already registered.")
        self._tools[tool.name] = tool
        return tool

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        """The registered tools in the OpenAI `tools` format."""
        return [tool.schema() for tool in self._tools.values()]

    def call(self, name: str, arguments_json: str) -> str:
        """Run a tool; errors come back as text for the model (see `execute` to tell them apart)."""
        return self.execute(name, arguments_json).content

    def execute(self, name: str, arguments_json: str) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return _failed(f"unknown tool {name!r}. Available tools: {known}.")
        try:
            raw = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as exc:
            return _failed(f"the arguments for {name!r} are not valid JSON ({exc.msg}). Send a JSON object.")
        if not isinstance(raw, dict):
            return _failed(f"the arguments for {name!r} must be a JSON object, got {type(raw).__name__}.")
        try:
            args = tool.arguments.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return _failed(f"invalid arguments for {name!r}: {problems}.")
        try:
            result = tool.fn(**{key: getattr(args, key) for key in type(args).model_fields})
        except Exception as exc:  # a tool failure goes back to the model, which may try differently
            return _failed(f"tool {name!r} failed: {type(exc).__name__}: {exc}")
        return ToolOutcome(content=result if isinstance(result, str) else json.dumps(result, default=str))


def tool_from_function(fn: Callable[..., Any], *, name: str | None = None) -> Tool:
    """Build a `Tool` from a typed, documented function; raises `ToolDefinitionError` when it can't."""
    tool_name = str(name or getattr(fn, "__name__", ""))
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(f"Tool name {tool_name!r} must match {_NAME.pattern}.")
    description, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    if not description:
        raise ToolDefinitionError(f"Tool {tool_name!r} needs a docstring: the model reads it to decide when to call.")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise ToolDefinitionError(f"Tool {tool_name!r} has type hints that cannot be resolved: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(f"Tool {tool_name!r}: parameter {param.name!r} must be a named parameter.")
        if param.name not in hints:
            raise ToolDefinitionError(f"Tool {tool_name!r}: parameter {param.name!r} needs a type hint.")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=arg_docs.get(param.name)))
    if "return" not in hints:
        raise ToolDefinitionError(f"Tool {tool_name!r} needs a return type hint.")
    try:
        model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        parameters = model.model_json_schema()
    except Exception as exc:
        raise ToolDefinitionError(f"Tool {tool_name!r}: its parameters have no JSON schema: {exc}") from exc
    parameters.pop("title", None)
    for prop in parameters.get("properties", {}).values():
        prop.pop("title", None)
    return Tool(name=tool_name, description=description, parameters=parameters, fn=fn, arguments=model)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google-style docstring."""
    description_lines: list[str] = []
    args: dict[str, str] = {}
    section = "description"
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            section, current = "args", None
            continue
        if stripped in ("Returns:", "Raises:", "Examples:", "Example:", "Yields:"):
            section = "other"
            continue
        if section == "description":
            description_lines.append(line)
        elif section == "args" and stripped:
            match = _ARG_LINE.match(line)
            if match and not line.startswith(" " * 8):
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif current is not None:
                args[current] = f"{args[current]} {stripped}".strip()
    description = " ".join(" ".join(description_lines).split())
    return description, args


def _failed(message: str) -> ToolOutcome:
    return ToolOutcome(content=f"Error: {message}", error=message)
