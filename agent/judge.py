"""The LLM-as-judge call, shared by reflection (in the loop) and the agent evaluation (after it).

The judge sees the question, the answer and numbered sources, under the numbers the answer uses for them, and
judges the claims against the sources the answer cites (the issue's definition of groundedness). Reflection
passes every source the answer was written from, in the answer prompt's order: the judge's prompt then opens
with exactly the answer prompt's system message (`prompts.SOURCES_SYSTEM`), and the model server reuses that
prefix's KV cache, so a same-server judge pays prefill only for the question, the answer and its instructions.
An evaluation may pass only the cited chunks; the layout is the same.

Verdicts are short on purpose: each rationale is at most `JUDGE_RATIONALE_CHARS` (enforced by the JSON
schema's grammar), and `JUDGE_MAX_TOKENS` bounds the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.chat_client import ChatModel, Message
from agent.prompts import JUDGE_SYSTEM, JUDGE_USER, JudgeResult, source_header

JUDGE_MAX_TOKENS = 120
NO_SOURCES = "(the answer cites no sources)"


@dataclass(frozen=True)
class CitedSource:
    """One numbered chunk as the judge sees it: `[n] Title > path (source)` and the full chunk text."""

    n: int
    title: str
    source: str
    text: str
    heading_path: tuple[str, ...] | list[str] = field(default_factory=tuple)


def judge_messages(question: str, answer: str, sources: Iterable[CitedSource]) -> list[Message]:
    blocks = []
    for s in sorted(sources, key=lambda s: s.n):
        header = source_header(s.n, {"title": s.title, "source": s.source, "heading_path": list(s.heading_path)})
        blocks.append(f"{header}\n{s.text.strip()}")
    system = JUDGE_SYSTEM.format(sources="\n\n".join(blocks) or NO_SOURCES)
    user = JUDGE_USER.format(question=question, answer=answer)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def judge(chat: ChatModel, question: str, answer: str, sources: Iterable[CitedSource]) -> JudgeResult:
    """The verdict; raises `ModelOutputError` when the judge's output is unusable."""
    return chat.structured(judge_messages(question, answer, sources), JudgeResult, max_tokens=JUDGE_MAX_TOKENS)
