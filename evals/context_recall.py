"""Context recall: does the context the answer prompt receives hold each question's key facts?

No model runs. The agent's own graph answers every question with routing, rewriting, model grading and
reflection off, through a recording chat client (`agent.testing.ScriptedChatClient`), and the answer call's
system message (the rules and the numbered sources) is checked for every key fact and for a gold page. What
reaches that message is exactly what retrieval, the cheap grading signal, focusing (`agent.source_tokens`) and
the context budget leave, so a setting that trims context can be compared on what it loses before any answer
is generated: an answer cannot hold a fact its context lacks.

    ragloop eval context --questions answers.jsonl -c sqlite --config k=5 --config k=5,source_tokens=150
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agent.bench import Question, fact_found
from agent.budget import TokenCounter
from agent.config import AgentConfig
from agent.prompts import ANSWER_SYSTEM

# every model step off: the only model call left is the answer, which the recording client receives
NO_MODEL_STEPS: dict[str, Any] = {
    "route": False,
    "rewrite": False,
    "llm_grading": False,
    "reflect": False,
    "max_retries": 0,
}


_SOURCE_LINE = re.compile(r"^\[\d+\] ", re.MULTILINE)


@dataclass
class ContextRow:
    id: str
    facts: bool  # every key fact is in the context
    gold: bool  # a gold page is among the sources
    sources: int
    tokens: int  # of the sources block


def parse_overrides(text: str) -> dict[str, Any]:
    """ "k=5,source_tokens=150" as AgentConfig overrides (validated by AgentConfig); "" is no override."""
    overrides: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r}: use KEY=VALUE, e.g. k=5 or source_tokens=150")
        overrides[key.strip()] = None if value.strip().lower() in ("none", "") else value.strip()
    return overrides


def measure(
    questions: Sequence[Question],
    retriever: Any,
    config: AgentConfig,
    token_counter: TokenCounter,
    on_question: Callable[[Question], None] | None = None,
) -> list[ContextRow]:
    """One row per answerable question: what the answer prompt's context held under `config`."""
    from agent.run import Agent, AgentDeps
    from agent.testing import ScriptedChatClient

    quiet = config.replace(**NO_MODEL_STEPS)
    rules = token_counter.count_tokens(ANSWER_SYSTEM)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ragloop-context-") as home:
        for question in (q for q in questions if q.answerable):
            chat = ScriptedChatClient(lambda messages, request: "(recorded)")
            agent = Agent(
                AgentDeps(chat=chat, judge=None, retriever=retriever, config=quiet, token_counter=token_counter),
                home=home,
            )
            try:
                agent.ask(question.question)
            finally:
                agent.close()
            answer_calls = [call for call in chat.calls if call.kind == "answer"]
            system = str(answer_calls[0].messages[0]["content"]) if answer_calls else ""
            sources = system.partition("\nSources:\n")[2]
            rows.append(
                ContextRow(
                    id=question.id,
                    facts=bool(sources) and all(fact_found(sources, alts) for alts in question.key_facts),
                    gold=any(gold in sources for gold in question.gold_sources),
                    sources=len(_SOURCE_LINE.findall(sources)),
                    tokens=max(0, token_counter.count_tokens(system) - rules) if sources else 0,
                )
            )
            if on_question is not None:
                on_question(question)
    return rows


def summarize(rows: Sequence[ContextRow]) -> dict[str, Any]:
    n = len(rows)
    return {
        "questions": n,
        "facts_in_context": sum(r.facts for r in rows),
        "gold_in_context": sum(r.gold for r in rows),
        "mean_sources": round(sum(r.sources for r in rows) / n, 2) if n else 0.0,
        "mean_context_tokens": round(sum(r.tokens for r in rows) / n, 1) if n else 0.0,
        "missed": [r.id for r in rows if not r.facts],
    }


def as_records(rows: Sequence[ContextRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
