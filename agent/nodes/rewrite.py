"""rewrite: standalone search queries from the conversation; up to 3 sub-queries for a multi-part question."""

from __future__ import annotations

import re
from typing import Any

from agent.context import RunContext
from agent.errors import ModelOutputError
from agent.prompts import REWRITE_FEEDBACK, REWRITE_SYSTEM, RewriteResult
from agent.state import AgentState

MAX_QUERIES = 3
# a question can only need rewriting when it has a conversation to refer to or several parts to split
_MULTI_PART = re.compile(r"\band\b|;|\?.+\?|\balso\b|\bvs\.?\b|\bversus\b|\bcompare", re.IGNORECASE)


def rewrite(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    question = state["question"]
    history = state.get("history", [])
    feedback = state.get("feedback", "") if state.get("next_action") == "rewrite" else ""
    if not feedback:
        if not ctx.config.rewrite:
            ctx.note("rewriting off: searching the question as asked")
            return {"queries": [question]}
        if not history and not _MULTI_PART.search(question):
            ctx.note("standalone single-part question: searching it as asked")
            return {"queries": [question]}
    user = f"Question: {question}"
    if feedback:
        user += "\n\n" + REWRITE_FEEDBACK.format(feedback=feedback)
    messages = [
        {"role": "system", "content": REWRITE_SYSTEM},
        *history,
        {"role": "user", "content": user},
    ]
    try:
        result = ctx.chat.structured(messages, RewriteResult, max_tokens=150)
    except ModelOutputError as exc:
        ctx.model_error("rewrite", exc)
        ctx.note("searching the question as asked")
        return {"queries": [question], "next_action": ""}
    queries: list[str] = []
    for query in result.queries:
        query = " ".join(query.split())
        if query and query.lower() not in {q.lower() for q in queries}:
            queries.append(query)
    if not queries:
        ctx.model_error("rewrite", "only empty queries")
        queries = [question]
    queries = queries[:MAX_QUERIES]
    if not history and not feedback and question.lower() not in {q.lower() for q in queries}:
        # a split standalone question is also searched as asked, first: its best chunks stay in the context
        queries = [question, *queries]
    ctx.note(" | ".join(queries))
    return {"queries": queries, "next_action": ""}
