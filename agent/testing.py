"""`ScriptedChatClient`: a `ChatModel` whose replies are scripted, for fast tests of the agent without a model.

A script is one of:
- a list of replies, consumed one per call, in order;
- a dict from call kind to a list of replies: each call takes the next reply for its kind, so a test can script
  the judge without caring how many routing or grading calls come first (`call_kind` names the kinds:
  "route", "rewrite", "grade", "judge", "answer", "tools", "reply", the memory's "summary", "extract" and
  "memory" (a fact decision), and "structured" for other schemas);
- a function `(messages, request) -> reply`.

A reply is a string (the text), a dict or pydantic model (sent as JSON text), a `ScriptedReply` (text, tool calls,
finish reason) or an exception instance (raised by the call). Running out of script raises `ScriptExhausted`:
the test did not expect that call. Every call is recorded in `calls` with its kind, messages and request.

Usage and timings are simulated from the text lengths and the `prompt_tps`/`generation_tps` given, without
sleeping, so budget decisions are deterministic.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from agent.chat_client import (
    ChatResult,
    ChatTimings,
    ChatUsage,
    Message,
    ToolCallRequest,
    estimate_tokens,
    structured_via_generate,
)
from retrieval.types import Chunk, SearchHit

T = TypeVar("T", bound=BaseModel)
_PIECE = re.compile(r"\s*\S+|\s+")


@dataclass
class ScriptedReply:
    text: str = ""
    tool_calls: list[tuple[str, str | dict[str, Any]]] = field(default_factory=list)  # (name, JSON or dict)
    finish_reason: str | None = None


Reply = str | dict[str, Any] | BaseModel | ScriptedReply | BaseException
Script = Iterable[Reply] | dict[str, Iterable[Reply]] | Callable[[list[Message], dict[str, Any]], Reply]


class ScriptExhausted(AssertionError):
    """The code under test made a model call the script did not plan for."""


@dataclass
class RecordedCall:
    kind: str
    messages: list[Message]
    request: dict[str, Any]


def call_kind(messages: list[Message], request: dict[str, Any]) -> str:
    """What a call is for, from its response format or system prompt."""
    response_format = request.get("response_format") or {}
    name = str(response_format.get("json_schema", {}).get("name", ""))
    by_schema = {"RouteDecision": "route", "RewriteResult": "rewrite", "GradeResult": "grade", "JudgeResult": "judge"}
    by_schema |= {"ThreadSummary": "summary", "ExtractedFacts": "extract", "MemoryDecision": "memory"}
    if name in by_schema:
        return by_schema[name]
    if response_format:
        return "structured"
    if request.get("tools"):
        return "tools"
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    if "numbered sources" in system:
        return "answer"
    return "reply"


class ScriptedChatClient:
    def __init__(
        self,
        script: Script = (),
        *,
        model: str = "scripted",
        prompt_tps: float = 500.0,
        generation_tps: float = 50.0,
    ) -> None:
        self.model = model
        self.prompt_tps = prompt_tps
        self.generation_tps = generation_tps
        self.calls: list[RecordedCall] = []
        self._fn: Callable[[list[Message], dict[str, Any]], Reply] | None = None
        self._queue: deque[Reply] = deque()
        self._by_kind: dict[str, deque[Reply]] | None = None
        if callable(script):
            self._fn = script
        elif isinstance(script, dict):
            self._by_kind = {kind: deque(replies) for kind, replies in script.items()}
        else:
            self._queue = deque(script)

    def kinds(self) -> list[str]:
        """The kinds of the calls made so far, in order."""
        return [call.kind for call in self.calls]

    def structured(
        self, messages: list[Message], schema: type[T], *, max_tokens: int | None = None, temperature: float = 0.0
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
        request = {
            "tools": tools,
            "tool_choice": tool_choice,
            "response_format": response_format,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        kind = call_kind(messages, request)
        self.calls.append(RecordedCall(kind, [dict(m) for m in messages], request))
        reply = self._next(kind, messages, request)
        if isinstance(reply, BaseException):
            raise reply
        scripted = _as_reply(reply)
        calls = [] if tool_choice == "none" or not tools else scripted.tool_calls
        text = scripted.text
        pieces = _PIECE.findall(text)
        if max_tokens is not None and len(pieces) > max_tokens:
            pieces = pieces[:max_tokens]
            text = "".join(pieces)
        if on_token is not None:
            for piece in pieces:
                on_token(piece)
        prompt_tokens = sum(estimate_tokens(json.dumps(m.get("content") or "")) for m in messages)
        completion_tokens = len(pieces) + sum(estimate_tokens(json.dumps(a)) for _, a in calls)
        prompt_s = prompt_tokens / self.prompt_tps
        generation_s = completion_tokens / self.generation_tps
        finish = scripted.finish_reason or ("tool_calls" if calls else "stop")
        return ChatResult(
            text=text,
            tool_calls=[
                ToolCallRequest(id=f"call_{len(self.calls)}_{i}", name=name, arguments=_json_text(args))
                for i, (name, args) in enumerate(calls)
            ],
            usage=ChatUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            timings=ChatTimings(
                total_seconds=prompt_s + generation_s,
                prompt_seconds=prompt_s,
                first_token_seconds=prompt_s,
                generation_seconds=generation_s,
            ),
            finish_reason=finish,
            model=self.model,
        )

    def _next(self, kind: str, messages: list[Message], request: dict[str, Any]) -> Reply:
        if self._fn is not None:
            return self._fn(messages, request)
        queue = self._queue if self._by_kind is None else self._by_kind.get(kind)
        if not queue:
            raise ScriptExhausted(f"unscripted {kind!r} call (call #{len(self.calls)}); the script has no reply left")
        return queue.popleft()


def _as_reply(reply: Reply) -> ScriptedReply:
    if isinstance(reply, ScriptedReply):
        return reply
    if isinstance(reply, BaseModel):
        return ScriptedReply(text=reply.model_dump_json())
    if isinstance(reply, dict):
        return ScriptedReply(text=json.dumps(reply))
    return ScriptedReply(text=str(reply))


def _json_text(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


class KeywordRetriever:
    """A `Retriever` over a fixed list of chunks for tests: scores are word overlap with the query.

    `scores["dense"]` is the fraction of the query's words found in the chunk (0..1), so the grader's
    thresholds apply to it like to a real dense similarity; hits with no overlap are not returned.
    """

    def __init__(self, chunks: list[Chunk], *, stage: str = "dense") -> None:
        self.chunks = chunks
        self.stage = stage
        self.queries: list[str] = []

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        self.queries.append(query)
        words = set(_WORD.findall(query.lower()))
        scored = []
        for chunk in self.chunks:
            overlap = len(words & set(_WORD.findall(chunk.text.lower()))) / max(len(words), 1)
            if overlap > 0:
                scored.append((overlap, chunk))
        scored.sort(key=lambda pair: -pair[0])
        return [
            SearchHit(chunk=chunk, score=score, scores={self.stage: score}, rank=rank)
            for rank, (score, chunk) in enumerate(scored[:k], start=1)
        ]

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """`retrieval.types.Vocabulary`: the terms that occur in none of the chunks (whole words, any case)."""
        words = {w for chunk in self.chunks for w in re.findall(r"\w+", chunk.text.lower())}
        return [t for t in terms if any(w not in words for w in re.findall(r"\w+", t.lower()))]


_WORD = re.compile(r"[a-z0-9]{3,}")
