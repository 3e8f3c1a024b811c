"""The evaluation's LLM judge: faithfulness, answer relevance, correctness against the reference, pairwise A/B.

Every call is JSON-schema constrained with the rationale first, then a binary verdict. Faithfulness and
relevance reuse the agent's own judge call (`agent.judge`, the groundedness and relevance criteria of
reflection, so a verdict here means what it means in the loop); correctness and the pairwise preference
are this module's prompts. A reply that does not parse, a timeout or a missing context is a `JudgeOutcome`
with `passed=None` and the reason: unmeasured, never a pass or a fail.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.chat_client import ChatModel, Message
from agent.errors import ChatBackendError, ModelOutputError
from agent.judge import CitedSource
from agent.judge import judge as agent_judge

CRITERIA = ("faithfulness", "relevance", "correctness")
RATIONALE_CHARS = 240
MAX_TOKENS = 300


@dataclass
class JudgeOutcome:
    criterion: str
    passed: bool | None  # None: unmeasured (see `reason`)
    rationale: str = ""
    reason: str | None = None  # why it is unmeasured
    seconds: float = 0.0
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CorrectnessVerdict(BaseModel):
    rationale: str = Field(max_length=RATIONALE_CHARS)
    correct: bool


class PairwiseVerdict(BaseModel):
    rationale: str = Field(max_length=RATIONALE_CHARS)
    better: Literal["A", "B"]


CORRECTNESS_SYSTEM = """You compare an answer with a reference answer to the same question.
The answer is correct when it states what the reference states about the question (other words are fine,
extra true details are fine); it is incorrect when it contradicts the reference, misses its main point,
or declines to answer. Write a short rationale first, then the verdict.
Reply in JSON with the fields in this order: rationale, correct."""

CORRECTNESS_USER = """Question: {question}

Reference answer: {reference}

Answer: {answer}"""

PAIRWISE_SYSTEM = """You compare two answers to the same question, written from the given sources.
The better answer is the one that answers the question correctly and is supported by the sources; length
and style do not matter. Write a short rationale first, then which answer is better: "A" or "B".
Reply in JSON with the fields in this order: rationale, better."""

PAIRWISE_USER = """Sources:
{sources}

Question: {question}

Answer A: {a}

Answer B: {b}"""


def _unmeasured(criterion: str, model: str, reason: str, start: float) -> JudgeOutcome:
    return JudgeOutcome(criterion, None, "", reason, round(time.perf_counter() - start, 3), model)


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, ModelOutputError):
        return f"judge output did not parse: {exc}"
    return f"judge call failed: {exc}"


def judge_answer(
    chat: ChatModel,
    question: str,
    answer: str,
    contexts: Sequence[CitedSource],
    *,
    temperature: float = 0.0,
) -> list[JudgeOutcome]:
    """Faithfulness (claims supported by the contexts) and relevance, in one call of the agent's judge."""
    start = time.perf_counter()
    model = getattr(chat, "model", "")
    if not answer.strip():
        return [_unmeasured(c, model, "empty answer", start) for c in ("faithfulness", "relevance")]
    try:
        if temperature:
            from agent.judge import judge_messages
            from agent.prompts import JudgeResult

            messages = judge_messages(question, answer, contexts)
            verdict = chat.structured(messages, JudgeResult, max_tokens=MAX_TOKENS, temperature=temperature)
        else:
            verdict = agent_judge(chat, question, answer, contexts)
    except (ModelOutputError, ChatBackendError) as exc:
        reason = _failure_reason(exc)
        return [_unmeasured(c, model, reason, start) for c in ("faithfulness", "relevance")]
    seconds = round(time.perf_counter() - start, 3)
    faithful = JudgeOutcome(
        "faithfulness", verdict.groundedness_pass, verdict.groundedness_rationale, None, seconds, model
    )
    if not contexts:
        faithful = JudgeOutcome("faithfulness", None, verdict.groundedness_rationale, "empty context", seconds, model)
    relevant = JudgeOutcome("relevance", verdict.relevance_pass, verdict.relevance_rationale, None, 0.0, model)
    return [faithful, relevant]


def correctness_messages(question: str, reference: str, answer: str) -> list[Message]:
    user = CORRECTNESS_USER.format(question=question, reference=reference, answer=answer)
    return [{"role": "system", "content": CORRECTNESS_SYSTEM}, {"role": "user", "content": user}]


def judge_correctness(
    chat: ChatModel, question: str, answer: str, reference: str | None, *, temperature: float = 0.0
) -> JudgeOutcome:
    start = time.perf_counter()
    model = getattr(chat, "model", "")
    if not reference:
        return _unmeasured("correctness", model, "no reference answer", start)
    if not answer.strip():
        return _unmeasured("correctness", model, "empty answer", start)
    try:
        verdict = chat.structured(
            correctness_messages(question, reference, answer),
            CorrectnessVerdict,
            max_tokens=MAX_TOKENS,
            temperature=temperature,
        )
    except (ModelOutputError, ChatBackendError) as exc:
        return _unmeasured("correctness", model, _failure_reason(exc), start)
    return JudgeOutcome(
        "correctness", verdict.correct, verdict.rationale, None, round(time.perf_counter() - start, 3), model
    )


def format_contexts(contexts: Sequence[CitedSource]) -> str:
    return "\n\n".join(f"[{c.n}] {c.title or c.source}\n{c.text.strip()}" for c in contexts) or "(no sources)"


def judge_pair(
    chat: ChatModel, question: str, contexts: Sequence[CitedSource], a: str, b: str, *, temperature: float = 0.0
) -> str | None:
    """ "A" or "B" for the better answer; None when the output is unusable."""
    user = PAIRWISE_USER.format(sources=format_contexts(contexts), question=question, a=a, b=b)
    messages: list[Message] = [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]
    try:
        verdict = chat.structured(messages, PairwiseVerdict, max_tokens=MAX_TOKENS, temperature=temperature)
    except (ModelOutputError, ChatBackendError):
        return None
    return verdict.better


def judge_all(
    chat: ChatModel,
    question: str,
    answer: str,
    contexts: Sequence[CitedSource],
    reference: str | None,
    criteria: Sequence[str] = CRITERIA,
    *,
    temperature: float = 0.0,
) -> dict[str, JudgeOutcome]:
    """The verdicts of `criteria` on one answer, by criterion."""
    out: dict[str, JudgeOutcome] = {}
    if "faithfulness" in criteria or "relevance" in criteria:
        for outcome in judge_answer(chat, question, answer, contexts, temperature=temperature):
            if outcome.criterion in criteria:
                out[outcome.criterion] = outcome
    if "correctness" in criteria:
        out["correctness"] = judge_correctness(chat, question, answer, reference, temperature=temperature)
    return out
