"""Plain types shared by the llama.cpp engine and the HTTP server (no framework types here).

The server turns an OpenAI request into `prepare_chat`/`prepare_completion` calls, then drives
`Engine.run(job)` on its single worker, turning `TokenEvent`s into SSE chunks and the final
`FinishEvent` into usage, tool calls and metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FinishReason = Literal["stop", "length", "tool_calls", "cancelled"]


@dataclass
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int | None = None  # None: until the context is full
    stop: list[str] = field(default_factory=list)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as in the OpenAI API; validated against the tool's parameters schema


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0  # prompt tokens whose KV state was reused (prefix cache)


@dataclass
class Timings:
    prompt_seconds: float = 0.0  # prompt processing (prefill)
    first_token_seconds: float = 0.0  # from start of run() to the first generated token
    generation_seconds: float = 0.0  # from the first token to the end
    total_seconds: float = 0.0


@dataclass
class TokenEvent:
    """Visible text produced by one step (tool-call markup is never emitted as text)."""

    text: str


@dataclass
class FinishEvent:
    finish_reason: FinishReason
    text: str  # the whole visible content (empty when the answer is only tool calls)
    tool_calls: list[ToolCall]
    usage: Usage
    timings: Timings


Event = TokenEvent | FinishEvent


@dataclass
class Job:
    """A validated, tokenized request, ready to run. Built by `prepare_*`, which raise on bad input."""

    kind: Literal["chat", "completion"]
    prompt_tokens: list[int]
    sampling: SamplingParams
    grammar: Any = None  # engine-private (a llama.cpp grammar), None when unconstrained
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None  # "auto" | "none" | "required" | {"type": "function", "function": {"name": ...}}
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # engine-private bookkeeping


class Engine(Protocol):
    """One loaded model with one llama.cpp context. Not thread-safe: the server runs one job at a time."""

    model_name: str
    n_ctx: int

    def prepare_chat(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
    ) -> Job:
        """Render the chat template and tokenize. Raises `ContextLengthExceededError` or `InvalidRequestError`."""
        ...

    def prepare_completion(
        self, prompt: str, sampling: SamplingParams, *, response_format: dict[str, Any] | None = None
    ) -> Job: ...

    def run(self, job: Job, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Generate. Yields `TokenEvent`s, then exactly one `FinishEvent` (finish_reason "cancelled"
        when `cancel` was set, checked between tokens)."""
        ...


class EngineError(Exception):
    """Base of errors the engine raises for a bad request (the server maps them to HTTP 400)."""

    code: str = "invalid_request_error"
    param: str | None = None


class InvalidRequestError(EngineError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ContextLengthExceededError(EngineError):
    code = "context_length_exceeded"

    def __init__(self, prompt_tokens: int, max_tokens: int | None, n_ctx: int) -> None:
        requested = prompt_tokens + (max_tokens or 0)
        super().__init__(
            f"This model's context is {n_ctx} tokens, but the request needs {requested} "
            f"({prompt_tokens} in the prompt + {max_tokens or 0} max_tokens). "
            "Shorten the messages, lower max_tokens, or start the server with a larger --n-ctx."
        )
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        self.param = "messages"
