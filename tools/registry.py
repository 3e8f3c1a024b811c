"""The tool registry: a tool is a plain typed Python function.

Its JSON schema comes from the type hints (through pydantic) and its description from the docstring: the first
paragraph describes the tool, a Google-style `Args:` section describes the parameters. Both are checked when the
function is registered, so a tool with a missing hint or description fails at start-up, not in front of a model.
`@tool(...)` adds what the registry cannot infer (MCP annotations: read-only, idempotent, open-world; a timeout).
A parameter annotated `CallContext` is not part of the schema: the caller injects it (progress, cancellation).

`schemas()` gives the OpenAI `tools` list; `execute()` validates the model's JSON arguments and runs the tool
under its timeout. Every failure the model can cause or the tool can hit at run time (unknown tool, bad JSON,
invalid arguments, an exception inside the tool, a timeout) comes back as text for the model, with `error` set
so the caller can record it. The same `Tool` serves the agent (here) and the MCP server (tools/mcp_server.py);
tools of other MCP servers join a registry as `Tool`s built by tools/mcp_client.py (`add`).
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tools.call import CallContext, ToolCancelledError, run_with_timeout

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
DEFAULT_TIMEOUT_S = 30.0
_META_ATTR = "__ragloop_tool__"


class ToolDefinitionError(Exception):
    """A function cannot be a tool (missing type hints or docstring, bad name, duplicate). A developer error."""


class ToolArgumentsError(ValueError):
    """The arguments do not fit the tool's schema; `fields` names the offending parameters."""

    def __init__(self, tool: str, problems: list[tuple[str, str]]) -> None:
        self.tool = tool
        self.problems = problems
        self.fields = [name for name, _ in problems]
        text = "; ".join(f"{name}: {msg}" for name, msg in problems)
        super().__init__(f"invalid arguments for {tool!r}: {text}.")


@dataclass(frozen=True)
class ToolMeta:
    """What `@tool` adds to a function. `read_only`: changes nothing; `idempotent`: repeating it is harmless;
    `open_world`: reaches beyond the local data (network, other processes); `timeout`: seconds (None: the
    registry's default)."""

    read_only: bool = True
    idempotent: bool = True
    open_world: bool = False
    timeout: float | None = None
    title: str | None = None


def tool(
    *,
    read_only: bool = True,
    idempotent: bool = True,
    open_world: bool = False,
    timeout: float | None = None,
    title: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function with its tool metadata; the function itself is returned unchanged."""
    meta = ToolMeta(read_only=read_only, idempotent=idempotent, open_world=open_world, timeout=timeout, title=title)

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _META_ATTR, meta)
        return fn

    return mark


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    fn: Callable[..., Any]  # called with the validated arguments as keywords (+ the CallContext if it wants one)
    arguments: type[BaseModel] | None  # None: checked against `parameters` only (tools of other MCP servers)
    meta: ToolMeta = field(default_factory=ToolMeta)
    context_param: str | None = None  # the parameter that receives the CallContext

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for `fn`, or `ToolArgumentsError` naming each bad field."""
        if self.arguments is None:
            return _check_against_schema(self.name, self.parameters, raw)
        try:
            args = self.arguments.model_validate(raw)
        except ValidationError as exc:
            raise ToolArgumentsError(
                self.name, [(".".join(str(p) for p in e["loc"]) or "arguments", e["msg"]) for e in exc.errors()]
            ) from exc
        return {key: getattr(args, key) for key in type(args).model_fields}

    def invoke(self, kwargs: dict[str, Any], context: CallContext) -> Any:
        if self.context_param is not None:
            kwargs = {**kwargs, self.context_param: context}
        return self.fn(**kwargs)


@dataclass
class ToolOutcome:
    content: str  # what goes back to the model as the tool message
    error: str | None = None  # set when the call failed (the content then explains the failure to the model)
    value: Any = None  # the tool's own return value (structured output for MCP), None on failure


class ToolRegistry:
    def __init__(self, tools: list[Callable[..., Any]] | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._tools: dict[str, Tool] = {}
        self.timeout = timeout
        for fn in tools or []:
            self.register(fn)

    def register(self, fn: Callable[..., Any], *, name: str | None = None) -> Tool:
        return self.add(tool_from_function(fn, name=name))

    def add(self, tool: Tool) -> Tool:
        if not _NAME.match(tool.name):
            raise ToolDefinitionError(f"Tool name {tool.name!r} must match {_NAME.pattern}.")
        if tool.name in self._tools:
            raise ToolDefinitionError(f"A tool named {tool.name!r} is already registered.")
        self._tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> None:
        """Withdraw a tool (e.g. of an MCP server that stopped): the model is no longer offered it."""
        self._tools.pop(name, None)

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def schemas(self) -> list[dict[str, Any]]:
        """The registered tools in the OpenAI `tools` format."""
        return [tool.schema() for tool in self._tools.values()]

    def timeout_for(self, tool: Tool) -> float:
        return tool.meta.timeout if tool.meta.timeout is not None else self.timeout

    def call(self, name: str, arguments_json: str) -> str:
        """Run a tool; errors come back as text for the model (see `execute` to tell them apart)."""
        return self.execute(name, arguments_json).content

    def execute(self, name: str, arguments_json: str, context: CallContext | None = None) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return _failed(f"unknown tool {name!r}. Available tools: {known}.")
        try:
            raw = json.loads(arguments_json or "{}")
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            return _failed(f"the arguments for {name!r} are not valid JSON ({detail}). Send a JSON object.")
        if not isinstance(raw, dict):
            return _failed(f"the arguments for {name!r} must be a JSON object, got {type(raw).__name__}.")
        return self.run(tool, raw, context)

    def run(self, tool: Tool, raw: dict[str, Any], context: CallContext | None = None) -> ToolOutcome:
        """Validate `raw` and run `tool` under its timeout; every failure is an outcome with `error` set."""
        try:
            kwargs = tool.validate(raw)
        except ToolArgumentsError as exc:
            return _failed(str(exc))
        context = context or CallContext()
        timeout = self.timeout_for(tool)
        try:
            result = run_with_timeout(lambda: tool.invoke(kwargs, context), timeout, context)
        except TimeoutError:
            return _failed(
                f"tool {tool.name!r} did not finish within {timeout:g} s and was stopped. "
                "Try a smaller request (fewer results, a shorter expression)."
            )
        except ToolCancelledError:
            return _failed(f"tool {tool.name!r} was cancelled.")
        except Exception as exc:  # a tool failure goes back to the model, which may try differently
            return _failed(f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}")
        return ToolOutcome(content=render_result(result), value=result)


def render_result(result: Any) -> str:
    """A tool's return value as the text the model reads (strings as is, the rest as JSON)."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, default=str, ensure_ascii=False)


def tool_from_function(fn: Callable[..., Any], *, name: str | None = None) -> Tool:
    """Build a `Tool` from a typed, documented function; raises `ToolDefinitionError` when it can't."""
    tool_name = str(name or getattr(fn, "__name__", ""))
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(f"Tool name {tool_name!r} must match {_NAME.pattern}.")
    description, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    if not description:
        raise ToolDefinitionError(f"Tool {tool_name!r} needs a docstring: the model reads it to decide when to call.")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"Tool {tool_name!r} has type hints that cannot be resolved: {exc}") from exc
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(f"Tool {tool_name!r}: parameter {param.name!r} must be a named parameter.")
        if param.name not in hints:
            raise ToolDefinitionError(f"Tool {tool_name!r}: parameter {param.name!r} needs a type hint.")
        if hints[param.name] is CallContext:
            context_param = param.name
            continue
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
    parameters.setdefault("properties", {})
    meta = getattr(fn, _META_ATTR, None) or ToolMeta()
    return Tool(
        name=tool_name,
        description=description,
        parameters=parameters,
        fn=fn,
        arguments=model,
        meta=meta,
        context_param=context_param,
    )


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _check_against_schema(tool: str, schema: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The top level of a JSON schema (tools of other MCP servers; their server validates the rest): properties
    not in the schema are invalid, required ones must be there, scalar types and enums must match."""
    properties: dict[str, Any] = schema.get("properties") or {}
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in properties and schema.get("additionalProperties") is not True:
            problems.append((key, f"not a parameter of this tool (parameters: {', '.join(properties) or 'none'})"))
    for key in schema.get("required") or []:
        if key not in raw:
            problems.append((key, "Field required"))
    for key, value in raw.items():
        spec = properties.get(key)
        if not isinstance(spec, dict):
            continue
        kinds = spec.get("type")
        names = [kinds] if isinstance(kinds, str) else list(kinds or [])
        allowed = tuple(t for n in names for t in _JSON_TYPES.get(n, ()))
        is_bool = isinstance(value, bool)
        if allowed and (not isinstance(value, allowed) or (is_bool and bool not in allowed)):
            problems.append((key, f"expected {' or '.join(names)}, got {type(value).__name__}"))
        elif "enum" in spec and value not in spec["enum"]:
            problems.append((key, f"must be one of {spec['enum']}"))
    if problems:
        raise ToolArgumentsError(tool, problems)
    return dict(raw)


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


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "CallContext",
    "Tool",
    "ToolArgumentsError",
    "ToolCancelledError",
    "ToolDefinitionError",
    "ToolMeta",
    "ToolOutcome",
    "ToolRegistry",
    "render_result",
    "tool",
    "tool_from_function",
]
