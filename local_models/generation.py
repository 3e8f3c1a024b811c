"""One run of one prepared job: sampled tokens in, `TokenEvent`s and a `FinishEvent` out.

Three shapes of run:
- text: plain or grammar-constrained (JSON) text, with stop strings;
- auto: free text that may turn into tool calls. Text streams until the model opens `<tool_call>` (or, as
  Qwen2.5-Coder often does, answers with a bare `{"name": ..., "arguments": ...}` object); a call whose JSON
  is broken or whose arguments fail the tool's schema is generated again under a grammar, from its start;
- call: a grammar-constrained call (tool_choice "required" or a named function).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Literal

from local_models.decoding import Decoder, DraftFn, build_sampler
from local_models.grammars import GrammarSpec, tool_call_grammar
from local_models.text_stream import TextStream
from local_models.tool_calls import (
    CALL_PREFIX,
    CALL_SUFFIX,
    CLOSE_TAG,
    OPEN_TAG,
    ToolCallError,
    parse_call,
    split_calls,
)
from local_models.types import Event, FinishEvent, FinishReason, Job, Timings, TokenEvent, ToolCall, Usage

log = logging.getLogger(__name__)

_NAMED = re.compile(r'\s*\{\s*"name"\s*:\s*"([^"]+)"')  # the start of a bare call, even if broken later

Finish = tuple[FinishReason, str, list[ToolCall]]  # finish reason, visible text, tool calls


@dataclass
class Plan:
    """How a job runs: plain/JSON text, free text that may call tools, or a forced call."""

    mode: Literal["text", "auto", "required"]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool name -> parameters schema


class Generation:
    """Runs one job on a decoder whose context already holds the job's prompt."""

    def __init__(
        self, decoder: Decoder, draft: DraftFn | None, job: Job, plan: Plan, cancel: threading.Event | None
    ) -> None:
        self.decoder = decoder
        self.draft = draft
        self.job = job
        self.plan = plan
        self.cancel = cancel
        self.start = perf_counter()
        self.prompt_done = self.start
        self.first_token: float | None = None
        self.completion_tokens = 0
        self.ended: Literal["eog", "length", "cancelled"] | None = None

    def events(self, cached_prompt_tokens: int) -> Iterator[Event]:
        """Generate after prefill (`prompt_done` must be set by the caller); ends with a `FinishEvent`."""
        if self.plan.mode == "required":
            finish = self._call(self.plan.parameters, self.job.grammar, "", [])
        elif self.plan.mode == "auto":
            finish = yield from self._auto()
        else:
            finish = yield from self._text()
        yield self.finish_event(*finish, cached_prompt_tokens)

    def finish_event(self, reason: FinishReason, text: str, calls: list[ToolCall], cached: int) -> FinishEvent:
        end = perf_counter()
        first = self.first_token if self.first_token is not None else end
        timings = Timings(
            prompt_seconds=self.prompt_done - self.start,
            first_token_seconds=first - self.start,
            generation_seconds=end - first,
            total_seconds=end - self.start,
        )
        usage = Usage(len(self.job.prompt_tokens), self.completion_tokens, cached)
        return FinishEvent(reason, text, calls, usage, timings)

    # -- tokens ----------------------------------------------------------------------------------------
    def _budget(self) -> int:
        room = self.decoder.n_ctx - self.decoder.n_past
        limit = self.job.sampling.max_tokens
        return room if limit is None else min(room, limit - self.completion_tokens)

    def _pieces(self, grammar: GrammarSpec | None) -> Iterator[bytes]:
        """The bytes of each generated token until end-of-generation, the budget, or cancellation
        (recorded in `ended`); the caller may stop early (a stop string, a finished call)."""
        self.ended = None
        sampler = build_sampler(self.decoder.llm, self.job.sampling, grammar.gbnf if grammar else None)
        try:
            for token in self.decoder.generate(sampler, self.draft, self._budget()):
                if self.first_token is None:
                    self.first_token = perf_counter()
                if self.decoder.is_eog(token):
                    self.ended = "eog"
                    return
                self.completion_tokens += 1
                yield self.decoder.piece(token)
                if self.cancel is not None and self.cancel.is_set():
                    self.ended = "cancelled"
                    return
            self.ended = "length"
        finally:
            sampler.close()

    def _reason(self, stopped: bool) -> FinishReason:
        return "stop" if stopped or self.ended in ("eog", None) else self.ended  # type: ignore[return-value]

    # -- the three shapes ------------------------------------------------------------------------------
    def _text(self) -> Generator[Event, None, Finish]:
        stream = TextStream(self.job.sampling.stop)
        stopped = False
        for piece in self._pieces(self.job.grammar):
            stream.push(piece)
            stop_at = stream.find_stop()
            if stop_at >= 0:
                stopped = True
                if text := stream.release(stop_at):
                    yield TokenEvent(text)
                break
            if text := stream.release():
                yield TokenEvent(text)
        if not stopped and (text := stream.release(len(stream.text))):
            yield TokenEvent(text)
        return self._reason(stopped), stream.text[: stream.emitted], []

    def _call(
        self, parameters: dict[str, dict[str, Any]], grammar: GrammarSpec | None, visible: str, calls: list[ToolCall]
    ) -> Finish:
        """Generate one grammar-constrained call (the context already ends with `<tool_call>\\n`)."""
        stream = TextStream([])
        for piece in self._pieces(grammar):
            stream.push(piece)
            if CLOSE_TAG in stream.text:
                break
        body, closed, _ = stream.text.partition(CLOSE_TAG)
        if not closed and self.ended != "eog":
            return self.ended or "length", visible, []
        try:
            call = parse_call(body.strip(), parameters)
        except ToolCallError as exc:  # the grammar should make this impossible
            raise RuntimeError(f"a grammar-constrained tool call did not validate: {exc}; output {body!r}") from exc
        return "tool_calls", visible, [*calls, call]

    def _auto(self) -> Generator[Event, None, Finish]:
        stream = TextStream(self.job.sampling.stop, markers=(OPEN_TAG,), hold_whitespace=True)
        call_at, bare, may_be_bare, stopped = -1, False, True, False
        for piece in self._pieces(None):
            stream.push(piece)
            if bare:
                parsed = _leading_object(stream.text[call_at:])
                if parsed is None:
                    continue
                if self._names_tool(parsed):
                    break
                call_at, bare = -1, False  # a JSON answer, not a call: stream it as text
            elif call_at >= 0:
                if _tagged_calls_over(stream.text[call_at:]):
                    break
                continue
            stop_at, tag = stream.find_stop(), stream.find(OPEN_TAG)
            if stop_at >= 0 and (tag < 0 or stop_at < tag):
                stopped = True
                if text := stream.release(stop_at):
                    yield TokenEvent(text)
                break
            if tag >= 0:
                call_at = tag
                if text := stream.release(len(stream.text[:tag].rstrip())):
                    yield TokenEvent(text)
            elif may_be_bare and stream.emitted == 0 and stream.text.lstrip().startswith("{"):
                call_at, bare, may_be_bare = len(stream.text) - len(stream.text.lstrip()), True, False
            elif text := stream.release():
                yield TokenEvent(text)
        visible = stream.text[: stream.emitted]
        if self.ended == "cancelled":
            return "cancelled", visible, []
        if bare:
            finish = self._bare_call(stream, call_at)
            if finish is not None:
                return finish
            call_at = -1  # unfinished JSON that names no tool: plain text
        if call_at < 0:
            if not stopped and (text := stream.release(len(stream.text))):
                yield TokenEvent(text)
            return self._reason(stopped), stream.text[: stream.emitted], []
        return self._tagged_calls(stream, call_at, visible)

    def _names_tool(self, value: Any) -> bool:
        return isinstance(value, dict) and value.get("name") in self.plan.parameters

    def _tagged_calls(self, stream: TextStream, call_at: int, visible: str) -> Finish:
        if self.ended == "length" and not stream.text.rstrip().endswith(CLOSE_TAG):
            return "length", visible, []  # cut off inside a call: nothing to repair within max_tokens
        calls: list[ToolCall] = []
        start = call_at
        for body in split_calls(stream.text[call_at:]):
            try:
                calls.append(parse_call(body, self.plan.parameters))
            except ToolCallError as exc:
                return self._repair(stream, start, exc, visible, calls)
            start = stream.text.find(OPEN_TAG, start + 1)
        return "tool_calls", visible, calls

    def _bare_call(self, stream: TextStream, call_at: int) -> Finish | None:
        """A bare `{"name": ..., "arguments": ...}` answer naming a tool is a call (repaired if broken)."""
        body = stream.text[call_at:]
        parsed = _leading_object(body)
        if parsed is None:
            match = _NAMED.match(body)
            if match is None or match[1] not in self.plan.parameters:
                return None
            if self.ended == "length":
                return "length", "", []
            error = ToolCallError("the call is not valid JSON", match[1])
            return self._repair(stream, call_at, error, "", [])
        if not self._names_tool(parsed):
            return None
        try:
            return "tool_calls", "", [parse_call(json.dumps(parsed), self.plan.parameters)]
        except ToolCallError as exc:
            return self._repair(stream, call_at, exc, "", [])

    def _repair(
        self, stream: TextStream, start: int, error: ToolCallError, visible: str, calls: list[ToolCall]
    ) -> Finish:
        """Roll the context back to where the bad call starts and generate it again under a grammar."""
        log.info("the model's tool call is invalid (%s); generating it again under a grammar", error)
        self.decoder.stats.tool_call_repairs += 1
        kept = stream.tokens_before(start)
        self.decoder.truncate(len(self.job.prompt_tokens) + kept)
        self.completion_tokens = kept  # the discarded call does not count against max_tokens, nor in usage
        filler = stream.text[stream.token_ends[kept - 1] if kept else 0 : start]
        forced = self.decoder.tokenize(filler + CALL_PREFIX)
        no_room = self.decoder.n_ctx - self.decoder.n_past <= len(forced) + 1 or self._budget() <= 0
        if no_room or not self.decoder.decode(forced, self.cancel):
            return ("cancelled" if self.cancel is not None and self.cancel.is_set() else "length"), visible, []
        parameters = self.plan.parameters
        if error.name is not None:
            parameters = {error.name: parameters[error.name]}
        return self._call(parameters, tool_call_grammar(parameters, CALL_SUFFIX), visible, calls)


def _leading_object(text: str) -> Any:
    """The JSON value at the start of `text`, or None while it is incomplete or invalid."""
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except json.JSONDecodeError:
        return None


def _tagged_calls_over(text: str) -> bool:
    """Tagged calls end when anything but another `<tool_call>` follows a closing tag."""
    last = text.rfind(CLOSE_TAG)
    if last < 0:
        return False
    rest = text[last + len(CLOSE_TAG) :].lstrip()
    return bool(rest) and not (OPEN_TAG.startswith(rest) or rest.startswith(OPEN_TAG))
