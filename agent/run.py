"""The agent's public API: `Agent(deps, home).ask(question, thread_id=None, on_event=None) -> AgentAnswer`.

Composition (the CLI and the evaluation do this; nothing here reads settings or the environment)::

    from agent.chat_client import ChatClient
    from agent.run import Agent, AgentConfig, AgentDeps
    from tools.builtin import builtin_registry

    chat = ChatClient(base_url="http://127.0.0.1:8808/v1", model="qwen2.5-coder-0.5b", api_key=None)
    judge = ChatClient(base_url=judge_url, model=judge_model)          # optional, default: the chat model
    deps = AgentDeps(chat=chat, judge=judge, retriever=searcher,        # any `retrieval.types.Retriever`
                     tools=builtin_registry(), config=AgentConfig(context_tokens=1500, max_retries=2))
    with Agent(deps, home=settings.home) as agent:                     # threads in <home>/threads.sqlite
        result = agent.ask("How does RRF work?", thread_id=None, on_event=print)
        result.answer, result.citations, result.verdicts, result.thread_id
        result.to_dict()                                                # for --json
        agent.list_threads()                                            # [ThreadInfo(...)], newest first

- `ask` with `thread_id=None` starts a new thread (its id is `result.thread_id`); pass it again, in this or a
  later process, to continue the conversation.
- `on_event(AgentEvent)`: `kind="token"` events stream the answer text as it is generated (when a retry
  regenerates the answer, a `step` event of `reflect` with failing verdicts comes first, then the new answer
  streams from the start); `kind="step"` events carry each finished node's `Step` (for `--verbose` traces).
  `result.answer` is the final text: when the model wrote no [n] markers the agent attributes sentences to
  chunks by word overlap, adds the markers there and flags those citations `attributed=True`.
- Errors: `agent.errors.AgentError` (model server unreachable, context too long...) and
  `retrieval.errors.RetrievalError` are for the user, with a message saying what to do. Output the model got
  wrong (bad JSON, empty answer, unknown tool) never raises: it is in `result.steps[i].error`, and an answer
  that is still unusable or still fails the judge after the retries has `result.failed = True`.
- The plain baseline for the evaluation: `AgentConfig(route=False, rewrite=False, llm_grading=False,
  reflect=False, max_retries=0, k=5)`.
- Memory (`AgentDeps.memory`, optional): facts and lessons are recalled in `load_context`; after the answer is
  returned, `ask` starts the turn's memory work (fact extraction, the episode) on a background thread, so the
  user sees the answer first. `agent.wait_memory()` waits for it and returns what was stored (`TurnMemory`,
  e.g. for "remembered: …"); the next `ask` and `close` wait for it too. A failure there never breaks a turn:
  it is in `TurnMemory.error`.
- Threads: turns beyond the thread's budget fold into a running summary (`AgentDeps.threads`); the listing
  (`list_threads`) is ragloop's own table in threads.sqlite, the checkpoint holds only turns and summary.
- A judge output that cannot be parsed gives "unjudged" verdicts (`Verdict.passed is None`), never a pass.
- `Agent` is not thread-safe: one question at a time per instance.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agent.budget import SpeedMeter
from agent.context import AgentDeps, RunContext
from agent.graph import THREADS_FILENAME, ThreadStore, build_graph, run_graph, thread_values
from agent.state import AgentState, Turn
from agent.types import AgentAnswer, AgentConfig, AgentEvent, Citation, Step, Verdict

if TYPE_CHECKING:
    from memory.service import TurnMemory

__all__ = [
    "Agent",
    "AgentAnswer",
    "AgentConfig",
    "AgentDeps",
    "AgentEvent",
    "Citation",
    "Step",
    "ThreadInfo",
    "Verdict",
]


@dataclass
class ThreadInfo:
    thread_id: str
    turns: int
    last_question: str


class Agent:
    def __init__(self, deps: AgentDeps, home: Path | str, *, threads_path: Path | str | None = None) -> None:
        self.deps = deps
        self._store = ThreadStore(Path(threads_path) if threads_path else Path(home) / THREADS_FILENAME)
        self._app = build_graph(self._store.saver)
        self._speeds: dict[str, SpeedMeter] = {}  # the backends' measured speed, kept across questions
        self._memory_job: _MemoryJob | None = None

    # -- questions -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        on_event: Callable[[AgentEvent], None] | None = None,
    ) -> AgentAnswer:
        """Answer one question in a thread (a new one when `thread_id` is None)."""
        self.wait_memory()
        thread_id = thread_id or new_thread_id()
        ctx = RunContext.for_question(self.deps, on_event=on_event, speeds=self._speeds)
        state = run_graph(self._app, thread_id, question, ctx)
        turns = state.get("turns", [])
        self._store.record(thread_id, len(turns), question)
        answer = answer_from_state(thread_id, state)
        memory = self.deps.memory
        if memory is not None and memory.settings.recall:
            self._memory_job = _MemoryJob(memory, answer)
        return answer

    def wait_memory(self) -> TurnMemory | None:
        """Wait for the last turn's memory work; what it stored (None when there was none)."""
        job, self._memory_job = self._memory_job, None
        return job.wait() if job is not None else None

    # -- threads ---------------------------------------------------------------------------------

    def list_threads(self) -> list[ThreadInfo]:
        """Saved threads, most recently used first."""
        return [ThreadInfo(thread_id, turns, last) for thread_id, turns, last in self._store.threads()]

    def summary(self, thread_id: str) -> tuple[str, int]:
        """(the thread's running summary, how many of its oldest turns it stands for)."""
        values = thread_values(self._app, thread_id)
        return values.get("summary", ""), values.get("summarized", 0)

    def turns(self, thread_id: str) -> list[Turn]:
        """The saved turns of a thread, oldest first (empty for an unknown thread)."""
        return list(thread_values(self._app, thread_id).get("turns", []))

    def delete_thread(self, thread_id: str) -> None:
        self._store.delete(thread_id)

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.wait_memory()
        finally:
            self._store.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _MemoryJob:
    """The memory work of one turn on a daemon thread; `wait()` returns its `TurnMemory`."""

    def __init__(self, memory: Any, answer: AgentAnswer) -> None:
        from memory.episodes import Episode

        self._episode = Episode(
            question=answer.question,
            answer=answer.answer,
            route=answer.route,
            citations=[c.to_dict() for c in answer.citations],
            verdicts=[v.to_dict() for v in answer.verdicts],
            retries=answer.attempt,
            failed=answer.failed,
            abstained=answer.abstained,
        )
        self._memory = memory
        self._result: TurnMemory | None = None
        self._thread = threading.Thread(target=self._run, name="ragloop-memory", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from memory.service import TurnMemory

        try:
            self._result = self._memory.after_turn(self._episode)
        except Exception as exc:  # a store or endpoint failure must not break the conversation
            self._result = TurnMemory(error=f"{type(exc).__name__}: {exc}")

    def wait(self) -> TurnMemory:
        self._thread.join()
        assert self._result is not None
        return self._result


def new_thread_id() -> str:
    return uuid.uuid4().hex[:12]


def _returned_attempt(state: AgentState) -> int:
    kept = state.get("answer_attempt", -1)
    return kept if kept >= 0 else state.get("retries", 0)


def answer_from_state(thread_id: str, state: AgentState) -> AgentAnswer:
    return AgentAnswer(
        thread_id=thread_id,
        question=state.get("question", ""),
        answer=state.get("answer", ""),
        route=state.get("route", ""),
        citations=[Citation(**c) for c in state.get("citations", [])],
        verdicts=_verdicts(state),
        steps=[Step(**s) for s in state.get("trace", [])],
        queries=list(state.get("queries", [])),
        retries=state.get("retries", 0),
        attempt=_returned_attempt(state),
        skipped=[dict(s) for s in state.get("skipped", [])],
        tokens=dict(state.get("tokens", {})),
        timings=dict(state.get("timings", {})),
        abstained=bool(state.get("abstained", False)),
        failed=bool(state.get("failed", False)),
    )


def _verdicts(state: AgentState) -> list[Verdict]:
    """The judge's verdicts; when reflection ran but the judge's output was unusable, "unjudged" ones for the
    returned attempt (never a silent pass)."""
    verdicts = [Verdict.from_dict(v) for v in state.get("verdicts", [])]
    attempt = _returned_attempt(state)
    judge_failed = any(
        s.get("node") == "reflect" and s.get("error") and "unjudged" in str(s.get("summary", ""))
        for s in state.get("trace", [])
    )
    if judge_failed and not any(v.attempt == attempt for v in verdicts):
        verdicts += [Verdict.unjudged("groundedness", attempt), Verdict.unjudged("relevance", attempt)]
    return verdicts
