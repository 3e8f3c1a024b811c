"""What the nodes receive besides the state: injected dependencies and the per-question run context.

`AgentDeps` is built once by the caller (the CLI, the evaluation, a test). `RunContext` is built per question
by `Agent.ask`: it wraps the models so every call is metered into the question's `Budget`, collects the notes
and model errors of the node that is running, and forwards events to the caller's `on_event`.
`run_node` runs one node function and turns what it did into a `Step` in the state's trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from agent.budget import Budget, SpeedMeter, TokenCounter
from agent.chat_client import ChatModel, ChatResult, EstimatedTokens, Message, structured_via_generate
from agent.errors import ModelOutputError
from agent.state import AgentState
from agent.types import AgentConfig, AgentEvent, Step
from memory.threads import ThreadPolicy
from retrieval.types import Retriever
from tools.registry import ToolRegistry

if TYPE_CHECKING:
    from memory.service import Memory

T = TypeVar("T", bound=BaseModel)
NodeFn = Callable[[AgentState, "RunContext"], dict[str, Any]]


@dataclass
class AgentDeps:
    """Everything the agent talks to, injected explicitly.

    chat: the answering model. judge: the reflection model (None: the chat model; a model from another family
    reduces self-preference). retriever: `retrieval`'s searcher (None: the documents route is unavailable).
    tools: the tool registry (None or empty: the tool route is unavailable). token_counter: sizes chunks for
    the context budget (the chat `ChatClient`: the model's own tokenizer; default: a tokenizer-free estimate).
    memory: the user's long-term memory (None: no recall, no extraction). threads: how much of a thread's past
    goes into prompts before older turns fold into the running summary.
    """

    chat: ChatModel
    retriever: Retriever | None = None
    judge: ChatModel | None = None
    tools: ToolRegistry | None = None
    config: AgentConfig = field(default_factory=AgentConfig)
    token_counter: TokenCounter = field(default_factory=EstimatedTokens)
    memory: Memory | None = None
    threads: ThreadPolicy = field(default_factory=ThreadPolicy)


class MeteredModel:
    """A `ChatModel` that records every call's usage and timings in the question's budget."""

    def __init__(self, inner: ChatModel, role: str, budget: Budget) -> None:
        self.inner = inner
        self.role = role
        self.budget = budget
        self.model = inner.model

    def generate(self, messages: list[Message], **kwargs: Any) -> ChatResult:
        try:
            result = self.inner.generate(messages, **kwargs)
        except ModelOutputError as exc:
            if exc.result is not None:
                self.budget.record(self.role, exc.result)
            raise
        self.budget.record(self.role, result)
        return result

    def structured(
        self, messages: list[Message], schema: type[T], *, max_tokens: int | None = None, temperature: float = 0.0
    ) -> T:
        return structured_via_generate(self, messages, schema, max_tokens=max_tokens, temperature=temperature)


@dataclass
class RunContext:
    """Per question: the deps, the budget, the caller's event callback, metered models, the node's notes."""

    deps: AgentDeps
    budget: Budget
    on_event: Callable[[AgentEvent], None] | None = None

    def __post_init__(self) -> None:
        self.config = self.deps.config
        self.chat = MeteredModel(self.deps.chat, "chat", self.budget)
        self.judge = MeteredModel(self.deps.judge or self.deps.chat, "judge", self.budget)
        self.notes: list[str] = []
        self.errors: list[str] = []

    @classmethod
    def for_question(
        cls,
        deps: AgentDeps,
        on_event: Callable[[AgentEvent], None] | None = None,
        speeds: dict[str, SpeedMeter] | None = None,
    ) -> RunContext:
        """A fresh context with the budget of `deps.config`; `speeds` carries measured speeds across questions."""
        config = deps.config
        budget = Budget(
            seconds=config.budget_seconds, tokens=config.budget_tokens, speeds=speeds if speeds is not None else {}
        )
        return cls(deps, budget, on_event)

    def note(self, text: str) -> None:
        """What the running node did, for the trace."""
        self.notes.append(text)

    def model_error(self, where: str, exc: ModelOutputError | str) -> None:
        """Something the model got wrong, handled by the node; shown in the trace."""
        self.errors.append(f"{where}: {exc}")

    def token_sink(self) -> Callable[[str], None] | None:
        """`on_token` for calls whose text is the answer shown to the user (None when nobody listens)."""
        if self.on_event is None:
            return None
        emit = self.on_event
        return lambda text: emit(AgentEvent(kind="token", text=text))

    def count_tokens(self, text: str) -> int:
        return self.deps.token_counter.count_tokens(text)

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        return self.deps.token_counter.count_tokens_many(texts)


def run_node(name: str, fn: NodeFn, state: AgentState, ctx: RunContext) -> dict[str, Any]:
    """Run one node and append its `Step` (summary, model errors, seconds, tokens) to the trace."""
    ctx.notes, ctx.errors = [], []
    before = ctx.budget.tokens_report()
    start = time.perf_counter()
    update = fn(state, ctx)
    after = ctx.budget.tokens_report()
    step = Step(
        node=name,
        summary="; ".join(ctx.notes),
        error="; ".join(ctx.errors) or None,
        seconds=round(time.perf_counter() - start, 4),
        prompt_tokens=after["prompt"] - before["prompt"],
        completion_tokens=after["completion"] - before["completion"],
    )
    trace = update.get("trace", state.get("trace", []))
    update["trace"] = [*trace, step.to_dict()]
    update["skipped"] = [dict(s) for s in ctx.budget.skipped]
    update["tokens"] = ctx.budget.tokens_report()
    update["timings"] = ctx.budget.timings_report()
    if ctx.on_event is not None:
        ctx.on_event(AgentEvent(kind="step", step=step))
    return update
