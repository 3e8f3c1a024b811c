"""Long-term facts and preferences of one user: write (remember, extract) and read (recall).

Writing a fact goes through cheap deterministic checks before any model call:

1. an exact duplicate (same words, case and punctuation aside) of a stored fact → NOOP;
2. a near duplicate (hybrid similarity ≥ `duplicate_similarity`) → NOOP;
3. nothing similar stored → ADD;
4. otherwise the model chooses, JSON-schema constrained, among ADD / UPDATE(n) / SUPERSEDE(n) / NOOP, where n
   numbers the few similar memories shown to it (1..n, never raw ids). A superseded value stays in the
   record's history with when and why. An UPDATE that would merge another topic into a memory (no content
   word in common, generic verbs aside) or whose merged text drops what either said stores the fact as new.

Model output that cannot be used (malformed JSON, a schema violation, an empty fact) stores nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from memory.errors import UnusableModelOutput
from memory.prompts import (
    DECIDE_SYSTEM,
    DECIDE_USER,
    EXTRACT_EXAMPLE,
    EXTRACT_SYSTEM,
    EXTRACT_USER,
    ExtractedFacts,
    decision_schema,
)
from memory.store import MemoryRecord, MemoryStore, Records, content_words, facts_namespace

Action = Literal["ADD", "UPDATE", "SUPERSEDE", "NOOP"]
Facts = list[str]
SHOWN = 3  # similar memories shown to the model for a decision
RELATED_THRESHOLD = 0.3  # below this hybrid similarity a stored fact is unrelated (→ ADD without a model call)
# a message without one of these cannot state anything about the user: no extraction call
_SELF = re.compile(r"\b(i|i'm|im|i've|i'd|i'll|my|mine|me|we|we're|our|us|call me|prefer|remember)\b", re.IGNORECASE)

_CHANGE = re.compile(
    r"\b(now|moved|changed|switched|upgraded|no longer|anymore|instead|not any more|these days)\b", re.IGNORECASE
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass
class Decision:
    action: Action
    fact: str
    record: MemoryRecord | None  # the record written or matched (None for a NOOP without a match)
    reason: str  # "exact duplicate", "near duplicate", "nothing similar", "model", "unusable model output: …"
    model_call: bool = False

    @property
    def stored(self) -> bool:
        return self.action in ("ADD", "UPDATE", "SUPERSEDE")

    def line(self) -> str:
        """`ADD: I work on PostgreSQL 15` (what the CLI shows after "remembered:")."""
        return f"{self.action}: {self.record.text if self.record and self.stored else self.fact}"


def statements(message: str) -> list[str]:
    """The message's sentences that are not questions (a question states nothing about the user)."""
    return [part.strip() for part in _SENTENCE.findall(message) if part.strip() and not part.strip().endswith("?")]


def normalize(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class FactMemory:
    def __init__(
        self,
        store: MemoryStore,
        chat: Any,  # a `ChatModel` (structured output): agent.chat_client.ChatClient or ScriptedChatClient
        *,
        recall_k: int = 4,
        recall_threshold: float = 0.3,
        duplicate_similarity: float = 0.92,
    ) -> None:
        self.store = store
        self.chat = chat
        self.recall_k = recall_k
        self.recall_threshold = recall_threshold
        self.duplicate_similarity = duplicate_similarity

    # -- read ----------------------------------------------------------------------------------------
    def recall(self, user: str, query: str, k: int | None = None) -> Records:
        """The user's facts most similar to the query, above the threshold (filtered by user in the store)."""
        return self.store.search(
            facts_namespace(user), query, k=self.recall_k if k is None else k, threshold=self.recall_threshold
        )

    def list(self, user: str) -> Records:
        return self.store.list(facts_namespace(user))

    # -- write ---------------------------------------------------------------------------------------
    def remember(self, user: str, fact: str, *, why: str = "") -> Decision:
        """Store one fact (or not): deterministic checks first, then a constrained model decision."""
        namespace = facts_namespace(user)
        fact = " ".join(fact.split())
        if not fact:
            return Decision("NOOP", fact, None, "empty fact")
        similar = self.store.search(namespace, fact, k=SHOWN, threshold=RELATED_THRESHOLD)
        key = normalize(fact)
        for record in similar:
            if normalize(record.text) == key:
                return Decision("NOOP", fact, record, "exact duplicate")
        if similar and similar[0].score >= self.duplicate_similarity:
            return Decision("NOOP", fact, similar[0], "near duplicate")
        if not similar:
            return Decision("ADD", fact, self.store.add(namespace, fact, why=why or "new fact"), "nothing similar")
        return self._decide(namespace, fact, similar, why)

    def _decide(self, namespace: str, fact: str, similar: Records, why: str) -> Decision:
        shown = "\n".join(f"{i}. {r.text}" for i, r in enumerate(similar, start=1))
        messages = [
            {"role": "system", "content": DECIDE_SYSTEM},
            {"role": "user", "content": DECIDE_USER.format(memories=shown, fact=fact)},
        ]
        try:
            choice: Any = self.chat.structured(messages, decision_schema(len(similar)), max_tokens=120)
        except UnusableModelOutput as exc:
            return Decision("NOOP", fact, None, f"unusable model output: {exc}", model_call=True)
        action: Action = choice.action
        target = int(choice.target)
        text = " ".join(str(choice.text).split()) or fact
        if action == "ADD" or (action in ("UPDATE", "SUPERSEDE") and target == 0):
            # an UPDATE without a target cannot overwrite anything: the fact is stored as new
            return Decision("ADD", fact, self.store.add(namespace, fact, why=why or "new fact"), "model", True)
        record = similar[target - 1] if 1 <= target <= len(similar) else None
        if action == "NOOP" or record is None:
            return Decision("NOOP", fact, record, "model", True)
        if action == "UPDATE" and _CHANGE.search(fact):
            # "now", "moved", "switched"...: the old value stopped being true. Small models merge both values
            # ("I moved to Paris. I live in Lyon."); a supersede with the fact as said keeps the old in history
            action, text = "SUPERSEDE", fact
        if action == "UPDATE" and not _same_topic(record.text, fact):
            # seen with the 1.5B model: "I work at Acme Analytics" merged into "I work as a database administrator";
            # a later contradiction of either fact then supersedes both. Another topic is its own memory
            return Decision(
                "ADD", fact, self.store.add(namespace, fact, why=why or "new fact"), "model: another topic", True
            )
        if action == "UPDATE" and not _merges(text, record.text, fact):
            # an "update" that drops what the memory said would delete the wrong memory: store the fact as new
            return Decision(
                "ADD", fact, self.store.add(namespace, fact, why=why or "new fact"), "model: not a merge", True
            )
        reason = f"{'contradicted' if action == 'SUPERSEDE' else 'refined'} by: {fact}" + (f" ({why})" if why else "")
        updated = self.store.update(namespace, record.id, text, action=action, why=reason)
        return Decision(action, fact, updated, "model", True)

    def extract(self, message: str) -> Facts:
        """Facts the user states about themselves in one message ([] when none, or when the output is
        unusable). Messages without a first-person statement (questions, greetings) cost no model call."""
        if not any(_SELF.search(sentence) for sentence in statements(message)):
            return []
        messages = [
            {"role": "system", "content": EXTRACT_SYSTEM},
            {"role": "user", "content": EXTRACT_EXAMPLE[0]},
            {"role": "assistant", "content": EXTRACT_EXAMPLE[1]},
            {"role": "user", "content": EXTRACT_USER.format(message=message)},
        ]
        try:
            result = self.chat.structured(messages, ExtractedFacts, max_tokens=150)
        except UnusableModelOutput:
            return []
        facts: Facts = []
        for fact in result.facts:
            fact = " ".join(str(fact).split())
            new = fact and len(fact) <= 300 and normalize(fact) not in {normalize(f) for f in facts}
            if new and _grounded(fact, message):
                facts.append(fact)
        return facts


def _grounded(fact: str, message: str) -> bool:
    """At least half of the fact's content words are in the user's message (small models invent facts)."""
    words = content_words(fact) - {"prefer", "like", "use", "work"}
    return not words or len(words & content_words(message)) * 2 >= len(words)


# verbs that say nothing about what a fact is about ("I work at X" and "I work as Y" are two topics)
_GENERIC = frozenset({"prefer", "like", "use", "work", "have", "am", "called", "named", "now", "also"})


def _same_topic(old: str, new: str) -> bool:
    """The new fact shares a content word (generic verbs aside) with the stored memory."""
    return bool((content_words(new) - _GENERIC) & (content_words(old) - _GENERIC))


def _merges(merged: str, old: str, new: str) -> bool:
    """A merge keeps most of the old memory's content words and most of the new fact's."""
    kept = content_words(merged)

    def most(words: set[str]) -> bool:
        return not words or len(words & kept) * 3 >= len(words) * 2

    return most(content_words(old)) and most(content_words(new))
