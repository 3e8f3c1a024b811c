"""OpenAI-shaped request models, and the response bodies built from engine results.

Unknown request fields are ignored (clients send many: `user`, `metadata`, `parallel_tool_calls`);
known fields are validated, and a value the server cannot honour (`n > 1`, `logprobs`) is a 400
rather than a silent change of meaning.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from local_models.types import FinishEvent, SamplingParams, ToolCall

_DEFAULTS = SamplingParams()


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id, tool_calls, ... go to the template as given
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"] = "function"
    function: dict[str, Any]

    @field_validator("function")
    @classmethod
    def _named(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("name"), str) or not value["name"]:
            raise ValueError("each tool needs function.name")
        return value


class SamplingRequest(BaseModel):
    """Fields shared by chat and text completions."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    repeat_penalty: float | None = Field(None, gt=0)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1)
    logprobs: bool | int | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @field_validator("response_format")
    @classmethod
    def _format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        kind = value.get("type")
        if kind not in ("text", "json_object", "json_schema"):
            raise ValueError("response_format.type must be text, json_object or json_schema")
        if kind == "json_schema":
            spec = value.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
                raise ValueError("response_format.json_schema must be an object with a `schema` object")
        return None if kind == "text" else value

    @model_validator(mode="after")
    def _supported(self) -> SamplingRequest:
        if self.n not in (None, 1):
            raise ValueError("n > 1 is not supported: send separate requests")
        if self.logprobs:
            raise ValueError("logprobs are not supported by this server")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                raise ValueError(f"{name} is not supported; use repeat_penalty (e.g. 1.1) instead")
        return self

    def sampling(self) -> SamplingParams:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return SamplingParams(
            temperature=_DEFAULTS.temperature if self.temperature is None else self.temperature,
            top_p=_DEFAULTS.top_p if self.top_p is None else self.top_p,
            top_k=_DEFAULTS.top_k if self.top_k is None else self.top_k,
            min_p=_DEFAULTS.min_p if self.min_p is None else self.min_p,
            repeat_penalty=_DEFAULTS.repeat_penalty if self.repeat_penalty is None else self.repeat_penalty,
            seed=self.seed,
            max_tokens=self.max_tokens,
            stop=stop,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(SamplingRequest):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _tools(self) -> ChatRequest:
        if self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens
        if isinstance(self.tool_choice, dict):
            name = (self.tool_choice.get("function") or {}).get("name")
            if not name:
                raise ValueError('a named tool_choice is {"type": "function", "function": {"name": ...}}')
            if name not in {t.function["name"] for t in self.tools or []}:
                raise ValueError(f"tool_choice names {name!r}, which is not in tools")
        elif self.tool_choice == "required" and not self.tools:
            raise ValueError('tool_choice "required" needs tools')
        return self

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]

    def tool_dicts(self) -> list[dict[str, Any]] | None:
        return [t.model_dump() for t in self.tools] if self.tools else None


class CompletionRequest(SamplingRequest):
    prompt: str | list[str]
    suffix: str | None = None
    echo: bool = False

    @model_validator(mode="after")
    def _single(self) -> CompletionRequest:
        if isinstance(self.prompt, list) and len(self.prompt) != 1:
            raise ValueError("prompt must be one string (batches are not supported)")
        if self.suffix:
            raise ValueError("suffix (fill-in-the-middle) is not supported")
        if self.echo:
            raise ValueError("echo is not supported")
        return self

    @property
    def prompt_text(self) -> str:
        return self.prompt[0] if isinstance(self.prompt, list) else self.prompt


# -- responses ------------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def finish_reason(finish: FinishEvent) -> str:
    return "stop" if finish.finish_reason == "cancelled" else finish.finish_reason


def usage_body(finish: FinishEvent) -> dict[str, Any]:
    usage = finish.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
    }


def tool_call_body(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if index is not None:
        body["index"] = index
    return body


def chat_body(rid: str, model: str, finish: FinishEvent) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": finish.text or None}
    if finish.tool_calls:
        message["tool_calls"] = [tool_call_body(c) for c in finish.tool_calls]
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": rid,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(finish)}],
        "usage": usage_body(finish),
    }


def chat_chunk(
    rid: str, created: int, model: str, delta: dict[str, Any] | None, finish: str | None = None
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}


def completion_body(rid: str, model: str, finish: FinishEvent) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "text_completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "text": finish.text, "logprobs": None, "finish_reason": finish_reason(finish)}],
        "usage": usage_body(finish),
    }


def completion_chunk(rid: str, created: int, model: str, text: str | None, finish: str | None = None) -> dict[str, Any]:
    choices = [] if text is None else [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]
    return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": choices}
