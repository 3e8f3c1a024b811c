"""The LLM-as-judge call, shared by reflection (in the loop) and the agent evaluation (after it).

The judge sees the question, the answer and the chunks the answer cites, under the numbers the answer uses
for them (the issue's definition of groundedness: every claim supported by the cited chunks). Both callers
build the same messages, so at temperature 0 the evaluation's verdict on an answer that passed reflection
is the verdict reflection saw, not a second opinion with a different prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.chat_client import ChatModel, Message
from agent.prompts import JUDGE_SYSTEM, JUDGE_USER, JudgeResult

JUDGE_MAX_TOKENS = 300
NO_SOURCES = "(the answer cites no sources)"


@dataclass(frozen=True)
class CitedSource:
    """One cited chunk as the judge sees it: `[n] Title (source)` and the full chunk text."""

    n: int
    title: str
    source: str
    text: str


def judge_messages(question: str, answer: str, sources: Iterable[CitedSource]) -> list[Message]:
    blocks = []
    for s in sorted(sources, key=lambda s: s.n):
        label = f"{s.title} ({s.source})" if s.title and s.source else (s.title or s.source)
        blocks.append(f"[{s.n}] {label}\n{s.text.strip()}")
    user = JUDGE_USER.format(sources="\n\n".join(blocks) or NO_SOURCES, question=question, answer=answer)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def judge(chat: ChatModel, question: str, answer: str, sources: Iterable[CitedSource]) -> JudgeResult:
    """The verdict; raises `ModelOutputError` when the judge's output is unusable."""
    return chat.structured(judge_messages(question, answer, sources), JudgeResult, max_tokens=JUDGE_MAX_TOKENS)
