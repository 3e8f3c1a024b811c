"""`ScriptedEngine`: a test double that implements the `Engine` protocol without a model.

It lets the HTTP server (queue, 503, disconnects, error mapping, SSE) be tested in milliseconds.
Replies come from a script (strings or `Reply` objects, consumed in order) or a function of the
job; when the script runs out the engine echoes the last user message (or, for a prompt with numbered
sources, quotes the first one's first sentence with its [1] citation). Text is emitted word by
word as `TokenEvent`s, with an optional delay per token and an optional gate that holds a run
before its first token, so tests can keep the engine busy deterministically.

The engine also records what the server asked of it (`jobs`, `runs`, `max_parallel_runs`) so tests
can check that the server never runs two jobs at once.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from local_models.types import (
    ContextLengthExceededError,
    Event,
    FinishEvent,
    FinishReason,
    InvalidRequestError,
    Job,
    SamplingParams,
    Timings,
    TokenEvent,
    ToolCall,
    Usage,
)

_PIECE = re.compile(r"\s*\S+|\s+")


@dataclass
class Reply:
    """One scripted answer: visible text, tool calls, or an exception raised while running."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    raises: BaseException | None = None
    raise_after: int = 0  # tokens emitted before `raises` is raised


Script = Iterable[str | Reply] | Callable[[Job], str | Reply]


def tokenize(text: str) -> list[int]:
    """A deterministic toy tokenizer: one token per whitespace-separated piece."""
    return [zlib.crc32(piece.encode()) & 0x7FFFFFFF for piece in _PIECE.findall(text)]


def render_chat(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # OpenAI content parts: keep the text parts
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        lines.append(f"{message.get('role', 'user')}: {content or ''}")
    return "\n".join(lines) + "\nassistant:"


class ScriptedEngine:
    """An `Engine` whose answers are scripted. Thread-safe enough for one worker plus test threads."""

    def __init__(
        self,
        script: Script = (),
        *,
        model_name: str = "scripted",
        n_ctx: int = 2048,
        token_delay: float = 0.0,
        gate: threading.Event | None = None,
    ) -> None:
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.token_delay = token_delay
        self.gate = gate  # when set by the test, runs proceed; until then each run waits before its first token
        self._script: Callable[[Job], str | Reply] | None = script if callable(script) else None
        self._queue: deque[str | Reply] = deque() if callable(script) else deque(script)
        self._lock = threading.Lock()
        self._active = 0
        self._last_prompt: list[int] = []
        self.jobs: list[Job] = []  # every job prepared, in order
        self.runs = 0  # runs started
        self.max_parallel_runs = 0  # the most runs ever active at once (the server must keep this at 1)
        self.running = threading.Event()  # set while a run is active
        self.finished: list[FinishEvent] = []  # every finish, in order

    # -- Engine protocol -------------------------------------------------------------------------

    def prepare_chat(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
    ) -> Job:
        if not messages:
            raise InvalidRequestError("`messages` must contain at least one message.", param="messages")
        if tool_choice not in (None, "auto", "none", "required") and not isinstance(tool_choice, dict):
            raise InvalidRequestError(f"Unsupported tool_choice {tool_choice!r}.", param="tool_choice")
        job = Job(
            kind="chat",
            prompt_tokens=self._tokens(render_chat(messages), sampling),
            sampling=sampling,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            extra={"messages": messages},
        )
        with self._lock:
            self.jobs.append(job)
        return job

    def prepare_completion(
        self, prompt: str, sampling: SamplingParams, *, response_format: dict[str, Any] | None = None
    ) -> Job:
        job = Job(
            kind="completion",
            prompt_tokens=self._tokens(prompt, sampling),
            sampling=sampling,
            response_format=response_format,
            extra={"prompt": prompt},
        )
        with self._lock:
            self.jobs.append(job)
        return job

    def run(self, job: Job, cancel: threading.Event | None = None) -> Iterator[Event]:
        cancel = cancel or threading.Event()
        start = time.perf_counter()
        with self._lock:
            self._active += 1
            self.runs += 1
            self.max_parallel_runs = max(self.max_parallel_runs, self._active)
            cached = _common_prefix(self._last_prompt, job.prompt_tokens)
            self._last_prompt = list(job.prompt_tokens)
        self.running.set()
        try:
            yield from self._generate(job, cancel, start, cached)
        finally:
            with self._lock:
                self._active -= 1
                if not self._active:
                    self.running.clear()

    # -- internals -------------------------------------------------------------------------------

    def _tokens(self, text: str, sampling: SamplingParams) -> list[int]:
        tokens = tokenize(text)
        if len(tokens) + (sampling.max_tokens or 0) > self.n_ctx:
            raise ContextLengthExceededError(len(tokens), sampling.max_tokens, self.n_ctx)
        return tokens

    def _next_reply(self, job: Job) -> Reply:
        with self._lock:
            item: str | Reply | None = self._queue.popleft() if self._queue else None
        if item is None and self._script is not None:
            item = self._script(job)
        if item is None:
            item = _echo(job)
        return Reply(text=item) if isinstance(item, str) else item

    def _generate(self, job: Job, cancel: threading.Event, start: float, cached: int) -> Iterator[Event]:
        reply = self._next_reply(job)
        if self.gate is not None:
            while not self.gate.wait(0.01) and not cancel.is_set():
                pass
        first_token_at: float | None = None
        text, count = "", 0
        reason: FinishReason = "stop"
        limit = job.sampling.max_tokens
        wants_tools = bool(reply.tool_calls) and bool(job.tools) and job.tool_choice != "none"
        for piece in [] if wants_tools else _PIECE.findall(reply.text):
            if cancel.is_set() or (self.token_delay and cancel.wait(self.token_delay)):
                break
            if limit is not None and count >= limit:
                reason = "length"
                break
            if reply.raises is not None and count >= reply.raise_after:
                raise reply.raises
            grown = text + piece
            hits = [grown.find(s) for s in job.sampling.stop if s and s in grown]
            if hits:
                if min(hits) > len(text):
                    yield TokenEvent(grown[len(text) : min(hits)])
                text = grown[: min(hits)]
                break
            first_token_at = first_token_at or time.perf_counter()
            count += 1
            text = grown
            yield TokenEvent(piece)
        if reply.raises is not None and count >= reply.raise_after and not cancel.is_set():
            raise reply.raises
        if cancel.is_set():
            reason = "cancelled"
        tool_calls = reply.tool_calls if wants_tools and reason != "cancelled" else []
        if tool_calls:
            reason = "tool_calls"
        end = time.perf_counter()
        first = first_token_at or end
        finish = FinishEvent(
            finish_reason=reason,
            text=text,
            tool_calls=list(tool_calls),
            usage=Usage(len(job.prompt_tokens), count + len(tool_calls), cached),
            timings=Timings(
                prompt_seconds=first - start,
                first_token_seconds=first - start,
                generation_seconds=end - first,
                total_seconds=end - start,
            ),
        )
        with self._lock:
            self.finished.append(finish)
        yield finish


def _echo(job: Job) -> str:
    """The last user message; for a chat prompt whose system message numbers its sources ("[1] header" lines
    followed by text), the first sentence of source [1] with its citation, like an extractive answer. (Echoing
    an answer prompt would give back its instructions, which the agent rightly refuses as an answer.)"""
    if job.kind == "completion":
        return str(job.extra.get("prompt", ""))
    messages = job.extra.get("messages", [])
    systems = [m.get("content") for m in messages if m.get("role") == "system" and isinstance(m.get("content"), str)]
    quoted = _first_sentence_of_source_one(systems[0]) if systems else ""
    if quoted:
        return f"{quoted} [1]."
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) and content else "(no user message)"


def _first_sentence_of_source_one(system: str) -> str:
    """The first sentence of at least five words in the text of source [1] ("[1] header" line, then its text up
    to the next numbered source), without its final stop; "" when there is none."""
    found = _SOURCE_ONE.search(system)
    if not found:
        return ""
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", found.group(1)):
        words = sentence.replace("…", " ").split()
        if len(words) >= 5:
            return " ".join(words).rstrip(".!?")
    return ""


_SOURCE_ONE = re.compile(r"^\[1\] [^\n]*\n(.*?)(?=\n\n\[2\] |\Z)", re.MULTILINE | re.DOTALL)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# -- running the real app over a test engine ----------------------------------------------------------


@dataclass
class LocalServer:
    """An app served by `serve_app`: its URL, engine and app, and helpers for talking to it."""

    base_url: str  # http://127.0.0.1:PORT/v1
    engine: Any
    app: Any
    api_key: str | None = None
    clients: list[Any] = field(default_factory=list)

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def client(self, **kwargs: Any) -> Any:
        """An `openai.OpenAI` client for this server (no retries), closed with the server."""
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("api_key", self.api_key or "unused")
        client = openai.OpenAI(base_url=self.base_url, **kwargs)
        self.clients.append(client)
        return client

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def metrics(self) -> str:
        import httpx

        return httpx.get(f"{self.root}/metrics", headers=self.headers(), timeout=10).text

    def close(self) -> None:
        for client in self.clients:
            client.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll until `condition()` holds; raise `TimeoutError` (never hang) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def serve_app(engine: Any, **settings: Any) -> Iterator[LocalServer]:
    """Serve `create_app(ServerSettings(**settings), engine)` with uvicorn in a thread on a free loopback port."""
    import uvicorn

    from local_models.server import ServerSettings, create_app
    from local_models.server.run import bind

    app = create_app(ServerSettings(model=engine.model_name, **settings), engine=engine)
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    running = LocalServer(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", engine, app, settings.get("api_key"))
    try:
        wait_until(lambda: server.started, "the test server to start")
        yield running
    finally:
        running.close()
        server.should_exit = True
        thread.join(10)
        sock.close()
