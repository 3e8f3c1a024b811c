"""Plain result types of the agent: what `Agent.ask` returns and what `on_event` receives.

Everything here is a dataclass with `to_dict()` giving JSON-ready data (the CLI's `--json`, the evaluation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent.config import AgentConfig

Route = Literal["documents", "tool", "direct", "clarify"]
ROUTES: tuple[Route, ...] = ("documents", "tool", "direct", "clarify")

__all__ = ["ROUTES", "AgentAnswer", "AgentConfig", "AgentEvent", "Citation", "Route", "Step", "Verdict"]


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
    """One judgement of one criterion. `passed` is None when the judge's output could not be parsed: the
    answer is then "unjudged", never a silent pass (`status`, also in `to_dict()`)."""

    criterion: Literal["groundedness", "relevance"]
    passed: bool | None
    rationale: str
    attempt: int  # 0 for the first answer, 1.. for retries

    @property
    def status(self) -> Literal["pass", "fail", "unjudged"]:
        return "unjudged" if self.passed is None else ("pass" if self.passed else "fail")

    @classmethod
    def unjudged(cls, criterion: Literal["groundedness", "relevance"], attempt: int, why: str = "") -> Verdict:
        return cls(criterion, None, why or "the judge's output could not be parsed", attempt)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(data["criterion"], data.get("passed"), str(data.get("rationale", "")), int(data.get("attempt", 0)))


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
        return {**asdict(self), "verdicts": [v.to_dict() for v in self.verdicts]}


@dataclass
class AgentEvent:
    """Progress while `Agent.ask` runs: `token` carries streamed answer text, `step` a finished node."""

    kind: Literal["token", "step"]
    text: str = ""
    step: Step | None = None
