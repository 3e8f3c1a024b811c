"""Rendering OpenAI chat messages with the GGUF's own Jinja chat template (sandboxed).

Tool-call styles:
- "native": the template renders `tools`, assistant `tool_calls` and `tool` messages itself (Qwen2.5);
- "prompted": a plain template (SmolLM2's ChatML); ragloop describes the tools in the system message and
  renders earlier calls and tool results as text in the same `<tool_call>` format;
- "none": no chat template (a base model): chat is refused, text completion still works.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from local_models.tool_calls import CLOSE_TAG, OPEN_TAG
from local_models.types import InvalidRequestError

ToolStyle = Literal["native", "prompted", "none"]
ROLES = ("system", "developer", "user", "assistant", "tool")
DEFAULT_SYSTEM = "You are a helpful assistant."


def infer_tool_style(template: str | None) -> ToolStyle:
    """For a GGUF without a registry entry: does its template render tools, exist at all, or neither?"""
    if not template:
        return "none"
    return "native" if "tools" in template and "tool_call" in template else "prompted"


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    # Like transformers' chat templates: no HTML escaping, keys in the given order.
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _raise(message: str) -> None:
    raise TemplateError(message)


class ChatTemplate:
    """One compiled chat template plus the special-token strings it may refer to."""

    def __init__(self, source: str, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(source)
        except TemplateError as exc:
            raise ValueError(f"the model's chat template does not compile: {exc}") from exc
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        try:
            return self._template.render(
                messages=messages,
                tools=tools,
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except (TemplateError, TypeError, KeyError, IndexError) as exc:
            raise InvalidRequestError(f"The model's chat template rejected these messages: {exc}", "messages") from exc


def normalize_messages(messages: Any) -> list[dict[str, Any]]:
    """Check roles and flatten content parts to text. Raises `InvalidRequestError(param="messages")`."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list.", "messages")
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidRequestError(
                f"messages[{index}] needs a role, one of {', '.join(ROLES)}.",
                "messages",
            )
        role = "system" if message["role"] == "developer" else message["role"]
        item: dict[str, Any] = {"role": role, "content": _text(message.get("content"), index, role)}
        if role == "assistant" and message.get("tool_calls"):
            item["tool_calls"] = [_history_call(call, index) for call in message["tool_calls"]]
        if role == "tool":
            item["tool_call_id"] = message.get("tool_call_id")
            if message.get("name"):
                item["name"] = message["name"]
        out.append(item)
    return out


def _text(content: Any, index: int, role: str) -> str:
    if content is None:
        if role in ("assistant",):
            return ""
        raise InvalidRequestError(f"messages[{index}] has no content.", "messages")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequestError(
                    f"messages[{index}]: only text content parts are supported by this model.",
                    "messages",
                )
            texts.append(part["text"])
        return "".join(texts)
    raise InvalidRequestError(f"messages[{index}].content must be a string or a list of text parts.", "messages")


def _history_call(call: Any, index: int) -> dict[str, Any]:
    """An earlier assistant tool call, with its JSON-text arguments decoded as templates expect."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError(f"messages[{index}].tool_calls entries need function.name.", "messages")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(
                f"messages[{index}].tool_calls: arguments of {function['name']!r} are not JSON.", "messages"
            ) from exc
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def call_markup(name: str, arguments: Any) -> str:
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{OPEN_TAG}\n{body}\n{CLOSE_TAG}"


def tools_instructions(tools: list[dict[str, Any]]) -> str:
    """The system-message text that teaches a template without tool support to call tools."""
    signatures = "\n".join(json.dumps(tool["function"], ensure_ascii=False) for tool in tools)
    return (
        "# Tools\n\n"
        "You can call functions to help answer the user. Their signatures, one JSON object per line:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "To call a function, answer with only a JSON object holding its name and arguments, "
        f"inside {OPEN_TAG}{CLOSE_TAG} tags, like this:\n"
        f'{OPEN_TAG}\n{{"name": "function_name", "arguments": {{"argument": "value"}}}}\n{CLOSE_TAG}'
    )


def prompted_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Rewrite messages for a template that knows only system/user/assistant and plain text content."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "assistant" and message.get("tool_calls"):
            calls = [call_markup(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]]
            content = "\n".join(filter(None, [content, *calls]))
            out.append({"role": "assistant", "content": content})
        elif role == "tool":
            result = f"<tool_response>\n{content}\n</tool_response>"
            if out and out[-1]["role"] == "user" and out[-1].get("_tool_results"):
                out[-1]["content"] += "\n" + result
            else:
                out.append({"role": "user", "content": result, "_tool_results": True})
        else:
            out.append({"role": role, "content": content})
    for message in out:
        message.pop("_tool_results", None)
    if tools:
        instructions = tools_instructions(tools)
        if out[0]["role"] == "system":
            out[0]["content"] = f"{out[0]['content']}\n\n{instructions}"
        else:
            out.insert(0, {"role": "system", "content": f"{DEFAULT_SYSTEM}\n\n{instructions}"})
    return out
