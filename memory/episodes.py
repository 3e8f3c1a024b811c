"""Episodic memory: each answered question with its answer, citations, verdict and, when reflection failed and
a retry recovered, a one-line lesson. A later similar question gets the relevant lessons back (for the
generate and reflect prompts: the agent state's `lessons` field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memory.store import MemoryRecord, MemoryStore, episodes_namespace

ANSWER_CHARS = 600
LESSON_CHARS = 220
LESSON_THRESHOLD = 0.55  # questions less similar than this do not share lessons


@dataclass
class Episode:
    """What happened to one question (built by the agent from its answer)."""

    question: str
    answer: str
    route: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # `agent.types.Verdict` as dicts
    retries: int = 0
    failed: bool = False
    abstained: bool = False


def verdict_label(episode: Episode) -> str:
    """pass | fail | unjudged (a judge output that could not be parsed is never a pass)."""
    if episode.failed:
        return "fail"
    final = [v for v in episode.verdicts if v.get("attempt") == episode.retries]
    if not final or any(v.get("passed") is None for v in final):
        return "unjudged"
    return "pass" if all(v.get("passed") for v in final) else "fail"


def lesson_for(episode: Episode) -> str:
    """One line when an attempt failed the judge and a retry passed; "" otherwise."""
    if episode.failed or episode.retries == 0 or verdict_label(episode) != "pass":
        return ""
    failing = [v for v in episode.verdicts if v.get("passed") is False and v.get("attempt", 0) < episode.retries]
    if not failing:
        return ""
    first = failing[0]
    rationale = " ".join(str(first.get("rationale", "")).split()).rstrip(".")
    lesson = f"A first answer to a similar question failed {first.get('criterion', 'the judge')}: {rationale}."
    return lesson if len(lesson) <= LESSON_CHARS else lesson[: LESSON_CHARS - 1] + "…"


class EpisodeMemory:
    def __init__(self, store: MemoryStore, *, threshold: float = LESSON_THRESHOLD, k: int = 2) -> None:
        self.store = store
        self.threshold = threshold
        self.k = k

    def record(self, user: str, episode: Episode) -> MemoryRecord | None:
        """Store an answered documents question (None for other routes, empty answers and abstentions)."""
        if episode.route != "documents" or not episode.answer.strip() or episode.abstained:
            return None
        answer = episode.answer.strip()
        data = {
            "answer": answer if len(answer) <= ANSWER_CHARS else answer[: ANSWER_CHARS - 1] + "…",
            "sources": sorted({str(c.get("source", "")) for c in episode.citations if c.get("source")}),
            "verdict": verdict_label(episode),
            "retries": episode.retries,
            "lesson": lesson_for(episode),
        }
        return self.store.add(episodes_namespace(user), episode.question, data=data, why="answered")

    def lessons(self, user: str, question: str) -> list[str]:
        """Lessons of earlier similar questions, most similar first."""
        found = self.store.search(episodes_namespace(user), question, k=self.k * 3, threshold=self.threshold)
        lessons: list[str] = []
        for record in found:
            lesson = str(record.data.get("lesson") or "")
            if lesson and lesson not in lessons:
                lessons.append(lesson)
        return lessons[: self.k]
