"""Short-term memory: a thread's earlier turns in the prompt, and the running summary older turns fold into.

The unit is a whole turn (the user's message and the answer, with any tool calls and their results made
inside that turn), so folding can never split a tool call from its result. A thread keeps every turn; the
first `summarized` of them are represented in the prompt by the summary only.

- `needs_fold`: the turns after the summary outgrew `history_tokens` (or twice `keep_turns` turns).
- `fold_count`: how many of those to fold so that the newest ones left fit in half the budget (at most
  `keep_turns` of them).
- `summarize`: one JSON-schema constrained model call merging the summary with the folded turns. Unusable
  output returns None: nothing is folded (no user message is dropped unsummarised) and the fold is retried
  after the next turn.
- `history_messages`: the summary and the unfolded turns, newest first until the budget is spent, so the
  prompt never grows past `history_tokens` + the summary's own bound, whatever happened to the folds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memory.errors import UnusableModelOutput
from memory.prompts import SUMMARY_SYSTEM, SUMMARY_USER, ThreadSummary

_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
Count = Callable[[str], int]


@dataclass(frozen=True)
class ThreadPolicy:
    history_tokens: int = 800  # earlier turns shown verbatim in a prompt, at most
    keep_turns: int = 3  # turns left verbatim after a fold
    summary_tokens: int = 250  # the summary's length bound (the model's max_tokens for it)


def turn_text(turn: Any) -> tuple[str, str]:
    """(user message, answer without citation marks: their sources are not shown again)."""
    return str(turn["question"]), _CITATION.sub("", str(turn["answer"])).strip()


def turn_tokens(turn: Any, count: Count) -> int:
    question, answer = turn_text(turn)
    return count(question) + count(answer) + 8  # + chat-template overhead of two messages


def needs_fold(turns: Sequence[Any], summarized: int, policy: ThreadPolicy, count: Count) -> bool:
    if policy.keep_turns <= 0:
        return False
    open_turns = turns[summarized:]
    return len(open_turns) > 2 * policy.keep_turns or sum(turn_tokens(t, count) for t in open_turns) > (
        policy.history_tokens
    )


def fold_count(turns: Sequence[Any], summarized: int, policy: ThreadPolicy, count: Count) -> int:
    """How many of the unfolded turns (oldest first) to fold into the summary."""
    open_turns = list(turns[summarized:])
    keep, used = 0, 0
    for turn in reversed(open_turns):
        size = turn_tokens(turn, count)
        if keep >= policy.keep_turns or used + size > policy.history_tokens // 2:
            break
        keep, used = keep + 1, used + size
    return len(open_turns) - keep


def summary_request(summary: str, turns: Sequence[Any], policy: ThreadPolicy, count: Count) -> list[dict[str, str]]:
    lines = []
    budget = max(policy.history_tokens * 2, 400)  # a single huge turn is clipped, never the turn list
    for turn in turns:
        question, answer = turn_text(turn)
        lines.append(f"User: {_clip(question, budget // 2, count)}")
        lines.append(f"Assistant: {_clip(answer, budget // 4, count)}")
    user = SUMMARY_USER.format(summary=summary or "(none yet)", turns="\n".join(lines))
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def summarize(chat: Any, summary: str, turns: Sequence[Any], policy: ThreadPolicy, count: Count) -> str | None:
    """The new running summary, or None when the model's output is unusable (nothing is folded then)."""
    messages = summary_request(summary, turns, policy, count)
    try:
        result = chat.structured(messages, ThreadSummary, max_tokens=policy.summary_tokens + 20)
    except UnusableModelOutput:
        return None
    text = " ".join(result.summary.split())
    return text or None


def history_messages(
    summary: str, turns: Sequence[Any], policy: ThreadPolicy, count: Count, *, max_turns: int | None = None
) -> tuple[list[dict[str, str]], int]:
    """(chat messages of the newest unfolded turns that fit the budget, oldest first; how many turns)."""
    chosen: list[dict[str, str]] = []
    used = 0
    shown = 0
    for turn in reversed(list(turns)):
        if max_turns is not None and shown >= max_turns:
            break
        size = turn_tokens(turn, count)
        if used + size > policy.history_tokens:
            break
        question, answer = turn_text(turn)
        chosen[:0] = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        used += size
        shown += 1
    return chosen, shown


def _clip(text: str, tokens: int, count: Count) -> str:
    if count(text) <= tokens:
        return text
    words = text.split()
    while words and count(" ".join(words)) > tokens:
        words = words[: max(1, len(words) * 3 // 4)] if len(words) > 1 else []
    return " ".join(words) + " …"
