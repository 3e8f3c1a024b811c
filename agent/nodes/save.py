"""save: append the turn to the thread's conversation (the checkpointer persists the state after each node)."""

from __future__ import annotations

from typing import Any

from agent.context import RunContext
from agent.state import AgentState, Turn


def save(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    turn = Turn(
        question=state["question"],
        answer=state.get("answer", ""),
        route=state.get("route", ""),
        citations=list(state.get("citations", [])),
        failed=bool(state.get("failed", False)),
    )
    turns = [*state.get("turns", []), turn]
    ctx.note(f"turn {len(turns)} saved")
    return {"turns": turns}
