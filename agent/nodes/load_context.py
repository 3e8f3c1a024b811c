"""load context: start a turn. The thread's running summary and its newest turns become chat history for the
prompts (within the thread's token budget); with long-term memory, the user's facts and the lessons of
similar earlier questions are recalled (filtered by user in the store query) into the same leading system
message, and into the state's `memories` / `lessons` fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from agent.context import RunContext
from agent.state import AgentState, fresh_turn
from memory.threads import ThreadPolicy, history_messages

SUMMARY_HEADER = "Summary of the earlier conversation:"
MEMORIES_HEADER = (
    "What the user told you in earlier conversations (when they ask about themselves and the answer is neither "
    "here nor in this conversation, say they have not told you):"
)
NOTHING_RECALLED = "\n- nothing that relates to this message"
LESSONS_HEADER = "Lessons from earlier similar questions:"


def thread_policy(ctx: RunContext) -> ThreadPolicy:
    return dataclasses.replace(ctx.deps.threads, keep_turns=ctx.config.history_turns)


def load_context(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    turns = state.get("turns") or []
    summarized = min(state.get("summarized", 0), len(turns))
    summary = state.get("summary", "") if ctx.config.history_turns > 0 else ""
    policy = thread_policy(ctx)
    turn_messages: list[dict[str, Any]] = []
    shown = 0
    if ctx.config.history_turns > 0:
        turn_messages, shown = history_messages(
            summary, turns[summarized:], policy, ctx.count_tokens, max_turns=2 * ctx.config.history_turns
        )
    update: dict[str, Any] = dict(fresh_turn(state.get("question", "")))
    memory = ctx.deps.memory
    facts: list[str] = []
    lessons: list[str] = []
    if memory is not None and memory.settings.recall:
        recalled = memory.recall(state.get("question", ""))
        facts, lessons = recalled.facts, recalled.lessons
        ctx.note(f"recalled {len(facts)} fact(s), {len(lessons)} lesson(s) for user {memory.user}")
    blocks = []
    if summary:
        blocks.append(f"{SUMMARY_HEADER}\n{summary}")
    if memory is not None and memory.settings.recall:
        blocks.append(MEMORIES_HEADER + ("".join(f"\n- {fact}" for fact in facts) or NOTHING_RECALLED))
    if lessons:
        blocks.append(LESSONS_HEADER + "".join(f"\n- {lesson}" for lesson in lessons))
    context = [{"role": "system", "content": "\n\n".join(blocks)}] if blocks else []
    update |= {"history": context + turn_messages, "memories": facts, "lessons": lessons}
    folded = f", {summarized} summarized" if summary else ""
    ctx.note(f"{len(turns)} earlier turn(s){folded}, {shown} in context")
    return update
