"""Plain result types of the agent: what `Agent.ask` returns and what `on_event` receives.

Everything here is a dataclass with `to_dict()` giving JSON-ready data (the CLI's `--json`, the evaluation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Route = Literal["documents", "tool", "direct", "clarify"]
ROUTES: tuple[Route, ...] = ("documents", "tool", "direct", "clarify")


@dataclass
class AgentConfig:
    """Knobs of one agent. The CLI builds it from settings; defaults suit a 0.5B model on 2 cores.

    The `route`/`rewrite`/`llm_grading`/`reflect` switches turn graph steps off: with all four False and
    `max_retries=0` the graph is the plain "retrieve top k and answer" baseline of the evaluation.
    """

    context_tokens: int = 1500  # token budget for the chunks put in the answer prompt
    k: int = 5  # hits asked from the retriever per (sub-)query
    max_retries: int = 2  # reflection retries (rewrite + re-retrieve, or regenerate with the judge's feedback)
    max_tool_steps: int = 4  # model turns in the tool-calling loop (the last one must answer)
    history_turns: int = 3  # earlier turns of the thread shown to route/rewrite/answer
    answer_max_tokens: int = 400
    retry_temperature: float = 0.5  # answers after the first are sampled: at 0 a small model repeats itself
    budget_seconds: float | None = None  # per question; optional steps that would exceed it are skipped
    budget_tokens: int | None = None  # per question (prompt + completion, all models)
    route: bool = True  # False: always answer from the documents
    rewrite: bool = True  # False: search with the question as asked
    llm_grading: bool = True  # False: grade with retrieval scores only (uncertain chunks are kept)
    max_llm_grades: int = 4  # at most this many uncertain chunks are graded by the model per attempt
    reflect: bool = True  # False: no judge, no retries
    attribute_citations: bool = True  # answers without any [n]: cite chunks by word overlap (flagged `attributed`)
    # cheap grading signal: (irrelevant below, relevant at or above) per retrieval stage, best stage first.
    # dense: all-MiniLM-L6-v2 cosine; on the demo corpus on-topic hits score 0.29-0.66, off-topic questions <= 0.20.
    grade_thresholds: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"rerank": (0.05, 0.5), "dense": (0.25, 0.45)}
    )

    def __post_init__(self) -> None:
        minimums = {"context_tokens": 1, "k": 1, "max_retries": 0, "max_tool_steps": 1, "history_turns": 0}
        minimums |= {"answer_max_tokens": 1, "max_llm_grades": 0}
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"AgentConfig.{name} must be at least {minimum}, got {getattr(self, name)}")
        for name in ("budget_seconds", "budget_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"AgentConfig.{name} must be positive or None, got {value}")
        for stage, (low, high) in self.grade_thresholds.items():
            if low > high:
                raise ValueError(f"AgentConfig.grade_thresholds[{stage!r}]: low {low} is above high {high}")


@dataclass
class Citation:
    n: int  # the number used inline, [n]
    chunk_id: str
    source: str
    title: str
    quote: str  # the chunk text the answer was grounded in (trimmed)
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    attributed: bool = False  # the model wrote no citations; the agent matched the sentence to this chunk

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    criterion: Literal["groundedness", "relevance"]
    passed: bool
    rationale: str
    attempt: int  # 0 for the first answer, 1.. for retries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Step:
    """One node run: what it did (`summary`), what the model got wrong (`error`), its cost."""

    node: str
    summary: str
    error: str | None = None
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgentAnswer:
    thread_id: str
    question: str
    answer: str
    route: str
    citations: list[Citation] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # every judgement made, all attempts
    steps: list[Step] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    retries: int = 0
    attempt: int = (
        -1
    )  # which attempt `answer` is (0 = the first; -1: the last, `retries`); lower when a better-rated one was kept
    skipped: list[dict[str, str]] = field(default_factory=list)  # [{"step": ..., "reason": ...}]
    tokens: dict[str, int] = field(default_factory=dict)  # prompt, completion, total (+ per role: judge_*)
    timings: dict[str, float] = field(default_factory=dict)  # total, retrieval, prompt, generation, judge, tools
    abstained: bool = False  # nothing relevant was found, the answer says so
    failed: bool = False  # the answer still fails the judge after the retries (or the model gave no usable answer)

    def __post_init__(self) -> None:
        if self.attempt < 0:
            self.attempt = self.retries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgentEvent:
    """Progress while `Agent.ask` runs: `token` carries streamed answer text, `step` a finished node."""

    kind: Literal["token", "step"]
    text: str = ""
    step: Step | None = None
