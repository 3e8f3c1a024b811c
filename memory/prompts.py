"""Prompts and output schemas of the memory model calls (all JSON-schema constrained)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

EXTRACT_SYSTEM = """You pick out lasting facts and preferences that the USER states about themselves or their \
work, to remember in later conversations.
Rules:
- Only what the user's message says. Never facts from the assistant's answer, never general knowledge.
- Each fact one short sentence in the first person, in the user's own words.
- Questions, greetings and requests are not facts. If the message states nothing about the user, return an \
empty list."""

EXTRACT_USER = "User's message:\n{message}"

# One worked example, as a turn of its own: examples written into the rules were copied as facts by the 1.5B
# model ("Hi, my name is Alice Martin." gave the rules' two examples, which the grounding check then dropped)
EXTRACT_EXAMPLE = (
    EXTRACT_USER.format(message="Hello there! I'm Sam, and I mostly write Go these days. Can you help?"),
    '{"facts": ["My name is Sam", "I mostly write Go"]}',
)


class ExtractedFacts(BaseModel):
    facts: list[str] = Field(default_factory=list, max_length=3)


DECIDE_SYSTEM = """You keep a user's memory up to date. You get the memories already stored, numbered, and one \
new fact. Choose one action:
- ADD: the new fact is about something none of the memories covers.
- UPDATE: the new fact adds detail to memory n without contradicting it; text is the merged fact.
- SUPERSEDE: the new fact contradicts memory n (the value changed); text is the new fact.
- NOOP: memory n already says the same thing.
target is the memory's number for UPDATE, SUPERSEDE and NOOP, and 0 for ADD."""

DECIDE_USER = "Stored memories:\n{memories}\n\nNew fact: {fact}"


def decision_schema(n: int) -> type[BaseModel]:
    """{action, target, text} where target is 0..n: small integers indexing the memories shown."""
    targets: Any = Literal[tuple(range(n + 1))]
    actions: Any = Literal["ADD", "UPDATE", "SUPERSEDE", "NOOP"]
    model: type[BaseModel] = create_model(
        "MemoryDecision",
        action=(actions, ...),
        target=(targets, ...),
        text=(str, Field(..., max_length=300)),
    )
    return model


SUMMARY_SYSTEM = """You keep a running summary of a conversation between a user and an assistant, so the \
assistant can continue it later. Merge the summary so far with the new turns into one short paragraph. Keep \
every fact, name, number, preference and open request the user gave; keep what the assistant concluded. \
Drop greetings and repetition."""

SUMMARY_USER = "Summary so far:\n{summary}\n\nNew turns:\n{turns}"


class ThreadSummary(BaseModel):
    summary: str = Field(..., max_length=1500)
