"""load context: start a turn; the thread's recent turns become chat history for the prompts."""

from __future__ import annotations

import re
from typing import Any

from agent.context import RunContext
from agent.state import AgentState, fresh_turn

_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def load_context(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    turns = state.get("turns") or []
    recent = turns[-ctx.config.history_turns :] if ctx.config.history_turns > 0 else []
    history: list[dict[str, Any]] = []
    for turn in recent:
        history.append({"role": "user", "content": turn["question"]})
        # citation numbers refer to the sources of that turn, which are not shown again
        history.append({"role": "assistant", "content": _CITATION.sub("", turn["answer"]).strip()})
    update: dict[str, Any] = dict(fresh_turn(state.get("question", "")))
    update["history"] = history
    ctx.note(f"{len(turns)} earlier turn(s), {len(recent)} in context")
    return update
