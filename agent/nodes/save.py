"""save: append the turn to the thread's conversation; when the unfolded turns outgrow the thread's budget,
fold the oldest of them into the running summary (one constrained model call; unusable output folds
nothing, so no user message is dropped unsummarised). Only the thread's lean part is checkpointed."""

from __future__ import annotations

from typing import Any

from agent.context import RunContext
from agent.nodes.load_context import thread_policy
from agent.state import LEAN_CITATION_KEYS, AgentState, Turn
from memory.threads import fold_count, needs_fold, summarize


def save(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    turn = Turn(
        question=state["question"],
        answer=state.get("answer", ""),
        route=state.get("route", ""),
        citations=[{k: c.get(k) for k in LEAN_CITATION_KEYS} for c in state.get("citations", [])],
        failed=bool(state.get("failed", False)),
    )
    turns = [*state.get("turns", []), turn]
    update: dict[str, Any] = {"turns": turns}
    summarized = min(state.get("summarized", 0), len(turns))
    policy = thread_policy(ctx)
    note = f"turn {len(turns)} saved"
    if needs_fold(turns, summarized, policy, ctx.count_tokens):
        count = fold_count(turns, summarized, policy, ctx.count_tokens)
        if count > 0:
            folded = turns[summarized : summarized + count]
            summary = summarize(ctx.chat, state.get("summary", ""), folded, policy, ctx.count_tokens)
            if summary is None:
                ctx.model_error("save", "the thread summary was unusable: turns kept unfolded, retried next turn")
            else:
                update |= {"summary": summary, "summarized": summarized + count}
                note += f"; {count} older turn(s) folded into the summary ({summarized + count} in total)"
    ctx.note(note)
    return update
