"""One item through one configuration: the agent's answer, the cited contexts, a retrieval ranking, timings.

The result is a plain JSON-ready dict (the cache's "answers" entry); nothing here scores it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from agent.errors import ChatBackendError, ContextLengthError
from evals.compose import AgentSession
from evals.dataset import Item, gold_match, source_name

RANKING_DEPTH = 10
_TOOL_CALLS = re.compile(r"after (\d+) tool call")


def tool_calls(steps: list[Any]) -> int:
    """Tool calls made, from the tools node's summary ("answered after N tool call(s)")."""
    total = 0
    for step in steps:
        if step.node == "tools":
            found = _TOOL_CALLS.search(step.summary)
            total += int(found.group(1)) if found else 0
    return total


def ranking_of(session: AgentSession, item: Item, k: int) -> tuple[list[str], float]:
    """Document names of the searcher's top hits for the question (gold names as the dataset spells them)."""
    start = time.perf_counter()
    hits = session.searcher.search(item.question, max(k, RANKING_DEPTH))
    seconds = time.perf_counter() - start
    ranking: list[str] = []
    for hit in hits:
        name = gold_match(hit.chunk.source, item.gold_sources) or source_name(hit.chunk.source)
        if name not in ranking:
            ranking.append(name)
    return ranking, seconds


def failed_record(
    exc: Exception, ranking: list[str], seconds: float, search_seconds: float, *, timed_out: bool
) -> dict[str, Any]:
    return {
        "answer": "",
        "abstained": False,
        "failed": True,
        "error": f"{type(exc).__name__}: {exc}",
        "timed_out": timed_out,
        "citations": [],
        "contexts": [],
        "ranking": ranking,
        "steps": 0,
        "tool_calls": 0,
        "retries": 0,
        "skipped": [],
        "tokens": {},
        "timings": {"total": round(seconds, 3)},
        "seconds": round(seconds, 3),
        "search_seconds": round(search_seconds, 3),
        "in_loop_verdicts": [],
    }


def answer_item(session: AgentSession, item: Item, k: int) -> dict[str, Any]:
    """Ask the agent. A prompt that does not fit is recorded as this item's error; any other `AgentError` (the
    server is gone) stops the run, and the items finished before it stay cached."""
    ranking, search_seconds = ranking_of(session, item, k)
    start = time.perf_counter()
    try:
        answer = session.agent.ask(item.question)
    except ContextLengthError as exc:  # this item's prompt did not fit: a wrong answer, not the end of the run
        return failed_record(exc, ranking, time.perf_counter() - start, search_seconds, timed_out=False)
    except ChatBackendError as exc:
        if "did not answer in time" not in str(exc):
            raise  # the server is gone: the user must act; finished items stay cached
        # a timeout is no answer at all: every metric of the item is unmeasured (retried when the run resumes)
        return failed_record(exc, ranking, time.perf_counter() - start, search_seconds, timed_out=True)
    seconds = time.perf_counter() - start
    cited = {c.chunk_id: c for c in answer.citations}
    texts = session.chunk_texts(list(cited))
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "failed": answer.failed,
        "error": None,
        "route": answer.route,
        "citations": [
            {"n": c.n, "chunk_id": c.chunk_id, "source": c.source, "title": c.title, "attributed": c.attributed}
            for c in answer.citations
        ],
        "contexts": [
            {"n": c.n, "title": c.title, "source": c.source, "text": texts.get(c.chunk_id, c.quote)}
            for c in answer.citations
        ],
        "ranking": ranking,
        "steps": len(answer.steps),
        "tool_calls": tool_calls(answer.steps),
        "retries": answer.retries,
        "skipped": [s.get("step", "") for s in answer.skipped],
        "tokens": dict(answer.tokens),
        "timings": {key: round(value, 3) for key, value in answer.timings.items()},
        "seconds": round(seconds, 3),
        "search_seconds": round(search_seconds, 3),
        "in_loop_verdicts": [v.to_dict() for v in answer.verdicts],
    }
