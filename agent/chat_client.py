"""The chat client: the agent's only way to a model, over the `openai` client and any OpenAI-compatible endpoint.

`ChatModel` is the seam (one method that matters, `generate`); `ChatClient` is the real implementation and
`agent.testing.ScriptedChatClient` the test double. `structured()` is built on `generate()` with a
`response_format` json_schema (enforced by a grammar on the local llama.cpp server) and validates the reply
with pydantic; unusable output raises `ModelOutputError`, which the nodes record and handle.

Timings are measured on the client: with streaming (used when `on_token` is given) the time to the first
token is the prompt-processing time; without streaming only the total is measured here, and the split
comes from the server's `timings` field when it sends one (llama.cpp style `prompt_ms`/`predicted_ms`).

Token counts (`count_tokens`, `count_tokens_many`) come from the server's `POST /v1/tokenize` (the project's
model server: the served model's own tokenizer), batched and cached per text. An endpoint without that
route (404/405/501: any other OpenAI-compatible service) gets the documented estimate `estimate_tokens`,
about 4 characters per token, which is close for English prose with BPE vocabularies (Qwen, Llama) and
undercounts code and non-Latin scripts by up to 2x: keep the context budget well under the model's window
when the counts are estimates (`exact_token_counts` is False).

A busy server answers 503 with `Retry-After` (its queue is full); `generate` waits that long and tries again,
at most `busy_retries` times (each wait capped at `max_retry_wait` seconds), then fails with a message that
says so. Other errors are not retried.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import ChatBackendError, ContextLengthError, ModelOutputError
from agent.excerpt import clip

Message = dict[str, Any]
T = TypeVar("T", bound=BaseModel)


@dataclass
class ToolCallRequest:
    """A tool call the model asked for; `arguments` is JSON text, as in the OpenAI API."""

    id: str
    name: str
    arguments: str

    def as_message_part(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class ChatUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # True when the server sent no usage and the counts are estimates

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatTimings:
    total_seconds: float = 0.0
    prompt_seconds: float | None = None  # prefill; None when it could not be measured
    first_token_seconds: float | None = None  # time to first token (streaming only)
    generation_seconds: float | None = None  # first token to the end; None when it could not be measured


@dataclass
class ChatResult:
    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: ChatUsage = field(default_factory=ChatUsage)
    timings: ChatTimings = field(default_factory=ChatTimings)
    finish_reason: str = "stop"
    model: str = ""


class ChatModel(Protocol):
    """What the agent needs from a model. `ChatClient` and `ScriptedChatClient` implement it."""

    model: str

    def generate(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult: ...

    def structured(
        self,
        messages: list[Message],
        schema: type[T],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> T: ...


def response_format_for(schema: type[BaseModel] | dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The OpenAI `response_format` asking for JSON that validates against `schema`."""
    if isinstance(schema, dict):
        json_schema, default_name = schema, "answer"
    else:
        json_schema, default_name = schema.model_json_schema(), schema.__name__
    return {
        "type": "json_schema",
        "json_schema": {"name": name or default_name, "schema": json_schema, "strict": True},
    }


def parse_structured(result: ChatResult, schema: type[T]) -> T:
    """Validate a reply against a pydantic model; unusable output raises `ModelOutputError`."""
    text = result.text.strip()
    if not text:
        raise ModelOutputError(f"the model returned empty output where {schema.__name__} JSON was required", result)
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the reply"
        raise ModelOutputError(
            f"the model's JSON does not fit {schema.__name__} ({where}: {first['msg']}): {clip(text, 200)}",
            result,
        ) from exc


def structured_via_generate(
    model: ChatModel,
    messages: list[Message],
    schema: type[T],
    *,
    max_tokens: int | None = None,
    temperature: float = 0.0,
) -> T:
    """`structured()` for any `ChatModel`: one constrained `generate()` call, then validation."""
    result = model.generate(
        messages, response_format=response_format_for(schema), max_tokens=max_tokens, temperature=temperature
    )
    return parse_structured(result, schema)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token for English BPE vocabularies)."""
    return max(1, (len(text) + 3) // 4) if text else 0


class EstimatedTokens:
    """The token counter of last resort: `estimate_tokens` for every text (no tokenizer, no I/O)."""

    exact_token_counts = False

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(text) for text in texts]


TOKENIZE_UNSUPPORTED = (404, 405, 501)  # statuses meaning "this endpoint cannot tokenize": estimate instead
COUNT_CACHE_SIZE = 8192  # texts whose counts a client remembers (chunks come back across questions)


class ChatClient:
    """A `ChatModel` over the `openai` client: any OpenAI-compatible endpoint (default: the local server)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 0,
        busy_retries: int = 3,
        max_retry_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai  # lazy: keeps `ragloop --help` fast

        self.base_url = base_url
        self.model = model
        self.busy_retries = busy_retries
        self.max_retry_wait = max_retry_wait
        self.busy_waits: list[float] = []  # seconds waited after each 503, for callers that report them
        self._sleep = sleep
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries
        )
        self.exact_token_counts: bool | None = None  # None until the first count asks the server
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._counts_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # -- token counts ----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt for this model (exact from the server, else estimated)."""
        return self.count_tokens_many([text])[0]

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """Counts for many texts in one request (split only when very large); counted texts come from the cache.

        Thread-safe: the cache is locked, the request is not (two threads may count the same new text)."""
        with self._counts_lock:
            known = {t: self._counts[t] for t in texts if t in self._counts}
            for text in known:
                self._counts.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = dict(zip(missing, self._tokenize(missing), strict=True))
            known.update(fresh)
            with self._counts_lock:
                self._counts.update(fresh)
                while len(self._counts) > COUNT_CACHE_SIZE:
                    self._counts.popitem(last=False)
        return [known[text] for text in texts]

    def _tokenize(self, texts: list[str]) -> list[int]:
        counts: list[int] = []
        for batch in _batches(texts):
            counts.extend(self._tokenize_batch(batch))
        return counts

    def _tokenize_batch(self, texts: list[str]) -> list[int]:
        if self.exact_token_counts is not False:
            try:
                reply = self._client.post("/tokenize", cast_to=object, body={"model": self.model, "texts": texts})
            except self._openai.APIStatusError as exc:
                if exc.status_code == 413:  # one text beyond the server's body limit: estimate just this batch
                    return [estimate_tokens(text) for text in texts]
                if exc.status_code not in TOKENIZE_UNSUPPORTED:
                    raise _status_error(exc, self.base_url, self.model) from exc
                self.exact_token_counts = False  # remembered: one failed probe per client, not one per call
            except (self._openai.APIConnectionError, self._openai.APITimeoutError) as exc:
                raise ChatBackendError(
                    f"Cannot reach the model server at {self.base_url} to count tokens ({exc})."
                ) from exc
            else:
                counts = reply.get("counts") if isinstance(reply, dict) else None
                if isinstance(counts, list) and len(counts) == len(texts):
                    self.exact_token_counts = True
                    return [int(n) for n in counts]
                self.exact_token_counts = False  # a /tokenize route of another shape: do not guess its meaning
        return [estimate_tokens(text) for text in texts]

    def structured(
        self,
        messages: list[Message],
        schema: type[T],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> T:
        return structured_via_generate(self, messages, schema, max_tokens=max_tokens, temperature=temperature)

    def generate(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatResult:
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if tools:
            request["tools"] = tools
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if response_format is not None:
            request["response_format"] = response_format
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        for attempt in range(self.busy_retries + 1):
            try:
                return self._generate_once(request, on_token)
            except _Busy as busy:
                if attempt == self.busy_retries:
                    raise ChatBackendError(
                        f"The model server at {self.base_url} is busy (HTTP 503, its queue is full) and stayed "
                        f"busy after {self.busy_retries} retr{'y' if self.busy_retries == 1 else 'ies'}: "
                        f"{busy.message} Wait for other requests to finish, or serve the model with a larger "
                        "--max-queue."
                    ) from busy.__cause__
                wait = min(busy.retry_after, self.max_retry_wait)
                self.busy_waits.append(wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _generate_once(self, request: dict[str, Any], on_token: Callable[[str], None] | None) -> ChatResult:
        start = time.perf_counter()
        try:
            if on_token is None:
                return self._complete(request, start)
            return self._stream(request, start, on_token)
        except self._openai.APITimeoutError as exc:
            raise ChatBackendError(
                f"The model server at {self.base_url} did not answer in time ({exc}). "
                "Use a smaller model or context budget, or raise the client timeout."
            ) from exc
        except self._openai.APIConnectionError as exc:
            raise ChatBackendError(
                f"Cannot reach the model server at {self.base_url} ({exc}). Start it with `ragloop serve-model` "
                "or pass --model-url for another OpenAI-compatible endpoint."
            ) from exc
        except self._openai.APIStatusError as exc:
            busy = _error_code(exc) == "server_overloaded" or "retry-after" in exc.response.headers
            if exc.status_code == 503 and busy:
                raise _Busy(_retry_after(exc), _error_message(exc)) from exc
            raise _status_error(exc, self.base_url, self.model) from exc

    # -- internals -------------------------------------------------------------------------------

    def _complete(self, request: dict[str, Any], start: float) -> ChatResult:
        response = self._client.chat.completions.create(**request)
        total = time.perf_counter() - start
        if not response.choices:
            raise ModelOutputError("the server returned no choices", None)
        choice = response.choices[0]
        message = choice.message
        calls = [
            ToolCallRequest(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        text = message.content or ""
        usage = _usage(response.usage, request["messages"], text)
        timings = ChatTimings(total_seconds=total)
        server = (response.model_extra or {}).get("timings")
        if isinstance(server, dict) and "prompt_ms" in server and "predicted_ms" in server:
            timings.prompt_seconds = float(server["prompt_ms"]) / 1000
            timings.generation_seconds = float(server["predicted_ms"]) / 1000
        return ChatResult(
            text=text,
            tool_calls=calls,
            usage=usage,
            timings=timings,
            finish_reason=choice.finish_reason or "stop",
            model=response.model or self.model,
        )

    def _stream(self, request: dict[str, Any], start: float, on_token: Callable[[str], None]) -> ChatResult:
        stream = self._client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        first: float | None = None
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason = "stop"
        usage_obj: Any = None
        model = self.model
        try:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage_obj = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta.content:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(delta.content)
                    on_token(delta.content)
                for call in delta.tool_calls or []:
                    if first is None:
                        first = time.perf_counter()
                    slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = call.id or slot["id"]
                    if call.function is not None:
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
        finally:
            stream.close()
        end = time.perf_counter()
        text = "".join(parts)
        ttft = (first or end) - start
        return ChatResult(
            text=text,
            tool_calls=[
                ToolCallRequest(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
                for i, c in sorted(calls.items())
            ],
            usage=_usage(usage_obj, request["messages"], text, streamed_pieces=len(parts)),
            timings=ChatTimings(
                total_seconds=end - start,
                prompt_seconds=ttft,
                first_token_seconds=ttft,
                generation_seconds=end - (first or end),
            ),
            finish_reason=finish_reason,
            model=model,
        )


def _usage(usage: Any, messages: list[Message], text: str, streamed_pieces: int | None = None) -> ChatUsage:
    if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
        return ChatUsage(prompt_tokens=int(usage.prompt_tokens), completion_tokens=int(usage.completion_tokens or 0))
    prompt = sum(estimate_tokens(json.dumps(m.get("content") or "")) for m in messages)
    completion = streamed_pieces if streamed_pieces is not None else estimate_tokens(text)
    return ChatUsage(prompt_tokens=prompt, completion_tokens=completion, estimated=True)


TOKENIZE_BATCH_CHARS = 200_000  # per /v1/tokenize request: well under the server's 1 MiB body limit
TOKENIZE_BATCH_TEXTS = 1000


def _batches(texts: list[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if batches[-1] and (size + len(text) > TOKENIZE_BATCH_CHARS or len(batches[-1]) >= TOKENIZE_BATCH_TEXTS):
            batches.append([])
            size = 0
        batches[-1].append(text)
        size += len(text)
    return [batch for batch in batches if batch]


class _Busy(Exception):
    """A 503 the server asked us to retry (its queue was full)."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


DEFAULT_RETRY_AFTER = 1.0  # seconds, when a 503 has no usable Retry-After


def _retry_after(exc: Any) -> float:
    """The 503's Retry-After in seconds (delta-seconds form; an HTTP date or junk counts as the default)."""
    value = exc.response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if seconds >= 0 else DEFAULT_RETRY_AFTER


def _error_fields(exc: Any) -> dict[str, Any]:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return error if isinstance(error, dict) else {}


def _error_code(exc: Any) -> str | None:
    code = _error_fields(exc).get("code")
    return code if isinstance(code, str) else None


def _error_message(exc: Any) -> str:
    message = _error_fields(exc).get("message")
    return message if isinstance(message, str) and message else str(exc)


def _status_error(exc: Any, base_url: str, model: str) -> ChatBackendError:
    code = _error_code(exc)
    message = _error_message(exc)
    if code == "context_length_exceeded":
        return ContextLengthError(
            f"{message} Lower the agent's context budget (fewer or shorter chunks) or serve the model with a "
            "larger --n-ctx."
        )
    if exc.status_code == 404:
        return ChatBackendError(f"The server at {base_url} does not serve model {model!r}: {message}")
    if exc.status_code in (401, 403):
        return ChatBackendError(f"The server at {base_url} rejected the API key: {message}. Check --api-key.")
    return ChatBackendError(f"The model server at {base_url} failed (HTTP {exc.status_code}): {message}")
