"""The graph's state: a TypedDict of plain JSON-ready values, so the SQLite checkpointer stores it as is.

Nodes return partial updates (a dict with some of these keys); each key is replaced, never merged.
`turns`, `summary` and `summarized` are the thread's persistent conversation (`PERSISTENT_KEYS`: the only
keys the checkpointer writes to disk, see `agent.graph.LeanSaver`); every other key belongs to the current
question, is reset by `load_context` at the start of each turn and lives only in memory.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Turn(TypedDict):
    question: str
    answer: str
    route: str
    citations: list[dict[str, Any]]  # lean: number, chunk id, source, title, headings, page (no chunk text)
    failed: bool


PERSISTENT_KEYS = ("thread_id", "turns", "summary", "summarized")
LEAN_CITATION_KEYS = ("n", "chunk_id", "source", "title", "heading_path", "page")


class Hit(TypedDict):
    """A retrieved chunk, flattened from `retrieval.types.SearchHit` (plus its estimated token count)."""

    chunk_id: str
    text: str
    source: str
    title: str
    heading_path: list[str]
    page: int | None
    score: float
    scores: dict[str, float]
    query: str
    tokens: int


class AgentState(TypedDict, total=False):
    thread_id: str
    turns: list[Turn]  # persistent: the thread's earlier turns, oldest first
    summary: str  # persistent: the running summary of turns[:summarized]
    summarized: int  # persistent: how many of the oldest turns the summary stands for
    question: str
    history: list[dict[str, Any]]  # for prompts: a system message (summary, memories, lessons), then turns
    memories: list[str]  # the user's long-term facts recalled for this question
    lessons: list[str]  # lessons of earlier similar questions (episodic memory), for generate / reflect
    route: str
    route_reason: str
    queries: list[str]
    hits: list[Hit]  # retrieved, de-duplicated and fitted to the context budget
    kept: list[Hit]  # hits the grader kept; numbered [1].. in the answer prompt in this order
    answer: str
    citations: list[dict[str, Any]]  # `agent.types.Citation` as dicts
    abstained: bool
    verdicts: list[dict[str, Any]]  # `agent.types.Verdict` as dicts
    feedback: str  # the judge's feedback for the next attempt
    rejected: list[str]  # answers of this turn that failed the judge (a repeat is not judged or retried again)
    attempts: list[dict[str, Any]]  # earlier attempts (answer, citations, kept, abstained, score) for the fallback
    answer_attempt: int  # the attempt returned when an earlier one was kept instead of the last; -1 otherwise
    next_action: str  # after reflect: "done" | "rewrite" | "regenerate"
    retries: int
    failed: bool
    skipped: list[dict[str, str]]
    trace: list[dict[str, Any]]  # `agent.types.Step` as dicts
    tokens: dict[str, int]
    timings: dict[str, float]


def fresh_turn(question: str) -> AgentState:
    """The per-question part of the state, reset at the start of every turn."""
    return AgentState(
        question=question,
        history=[],
        memories=[],
        lessons=[],
        route="",
        route_reason="",
        queries=[],
        hits=[],
        kept=[],
        answer="",
        citations=[],
        abstained=False,
        verdicts=[],
        feedback="",
        rejected=[],
        attempts=[],
        answer_attempt=-1,
        next_action="",
        retries=0,
        failed=False,
        skipped=[],
        trace=[],
        tokens={},
        timings={},
    )
