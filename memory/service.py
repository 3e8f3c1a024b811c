"""`Memory`: what the agent and the CLI use: one user's facts and episodes over one `MemoryStore`.

    memory = Memory(store, chat, user="alice", settings=MemorySettings())
    memory.recall("Which database do I use?")       # Recalled(facts=[...], lessons=[...], seconds=0.02)
    memory.remember("I moved to PostgreSQL 16")      # Decision(action="SUPERSEDE", ...)
    memory.after_turn(episode)                       # extraction + episode; runs off the answer's path
    memory.forget(record_id)                         # the fact, its history, everywhere

`for_user(name)` gives the same memory for another user (the store query filters by user).
`open_memory(store, chat, settings)` builds it over a `retrieval.store.Store` (the composition root calls it);
`chat` may be a zero-argument function returning the model, called on the first model call only (so listing
or forgetting memories never starts a model server).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory.episodes import Episode, EpisodeMemory
from memory.errors import MemoryStoreError
from memory.facts import Decision, FactMemory
from memory.settings import MemorySettings
from memory.store import (
    ChromaMemoryStore,
    MemoryRecord,
    MemoryStore,
    Records,
    episodes_namespace,
    facts_namespace,
)


@dataclass
class Recalled:
    facts: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class TurnMemory:
    """What the memory did after one turn."""

    decisions: list[Decision] = field(default_factory=list)
    episode: MemoryRecord | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def remembered(self) -> list[str]:
        return [d.line() for d in self.decisions if d.stored]


class Memory:
    def __init__(
        self, store: MemoryStore, chat: Any, *, user: str | None = None, settings: MemorySettings | None = None
    ) -> None:
        self.settings = settings or MemorySettings()
        self.store = store
        self.chat = chat if hasattr(chat, "structured") else LazyChat(chat)
        self.user = user or self.settings.user
        facts_namespace(self.user)  # a bad user name fails here, before any turn
        self.facts = FactMemory(
            store,
            chat,
            recall_k=self.settings.recall_k,
            recall_threshold=self.settings.recall_threshold,
            duplicate_similarity=self.settings.duplicate_similarity,
        )
        self.episodes = EpisodeMemory(store)

    def for_user(self, user: str) -> Memory:
        return Memory(self.store, self.chat, user=user, settings=self.settings)

    # -- the agent's seams ---------------------------------------------------------------------------
    def recall(self, question: str) -> Recalled:
        start = time.perf_counter()
        facts = [r.text for r in self.facts.recall(self.user, question)]
        lessons = self.episodes.lessons(self.user, question)
        return Recalled(facts, lessons, round(time.perf_counter() - start, 4))

    def after_turn(self, episode: Episode) -> TurnMemory:
        """Extract the facts the user stated and store the episode. Never raises for model output."""
        start = time.perf_counter()
        out = TurnMemory()
        if self.settings.extract:
            for fact in self.facts.extract(episode.question):
                out.decisions.append(self.facts.remember(self.user, fact, why="said in conversation"))
        out.episode = self.episodes.record(self.user, episode)
        out.seconds = round(time.perf_counter() - start, 4)
        return out

    # -- explicit operations (the `remember` tool, the CLI) ------------------------------------------
    def remember(self, fact: str) -> Decision:
        return self.facts.remember(self.user, fact, why="asked to remember")

    def list(self) -> Records:
        return self.facts.list(self.user)

    def history(self, record_id: str) -> MemoryRecord:
        record = self.store.get(facts_namespace(self.user), record_id)
        if record is None:
            raise MemoryStoreError(f"No memory {record_id!r} for user {self.user!r}: see `ragloop memory list`.")
        return record

    def forget(self, record_id: str) -> MemoryRecord:
        """Erase a fact (by id, or the id's unique prefix) with its history; returns what was removed."""
        record = self.resolve(record_id)
        self.store.delete(facts_namespace(self.user), record.id)
        return record

    def resolve(self, prefix: str) -> MemoryRecord:
        matches = [r for r in self.list() if r.id.startswith(prefix.strip())] if prefix.strip() else []
        if len(matches) != 1:
            what = "No memory" if not matches else f"{len(matches)} memories match"
            raise MemoryStoreError(f"{what} {prefix!r} for user {self.user!r}: see `ragloop memory list`.")
        return matches[0]

    # -- export / import (JSONL, one record a line) --------------------------------------------------
    def export(self, *, episodes: bool = False) -> Iterator[dict[str, Any]]:
        records = [("fact", r) for r in self.list()]
        if episodes:
            records += [("episode", r) for r in self.store.list(episodes_namespace(self.user))]
        for kind, record in records:
            data = record.to_dict()
            data.pop("score", None)
            yield {"kind": kind, **data}

    def import_lines(self, lines: Iterable[str]) -> int:
        """Records from JSONL into this user's namespaces (ids kept, so importing twice changes nothing).
        Every line is checked before anything is written: a bad file writes nothing."""
        records: Records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                kind = data.pop("kind", "fact")
                data.pop("score", None)
                namespace = {"fact": facts_namespace, "episode": episodes_namespace}[kind](self.user)
                record = MemoryRecord.from_dict({**data, "namespace": namespace})
            except (ValueError, KeyError, TypeError) as exc:
                raise MemoryStoreError(
                    f"Line {number} is not a memory record ({type(exc).__name__}: {exc}); nothing was imported. "
                    "Use a file written by `ragloop memory export`."
                ) from exc
            if not record.text.strip():
                raise MemoryStoreError(f"Line {number} has no text; nothing was imported.")
            records.append(record)
        for record in records:
            self.store.put(record)
        return len(records)


class LazyChat:
    """A chat model obtained on first use from `factory` (e.g. the runtime's lazily started local server)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._model: Any = None

    def structured(self, messages: list[dict[str, Any]], schema: Any, **kwargs: Any) -> Any:
        if self._model is None:
            self._model = self._factory()
        return self._model.structured(messages, schema, **kwargs)


def open_memory(
    store: Any,
    chat: Any,
    settings: MemorySettings,
    *,
    user: str | None = None,
    embed_backend: str = "torch",
    cache_dir: Path | None = None,
    embedder: Any = None,
) -> Memory:
    """`Memory` over `settings.collection` in a `retrieval.store.Store`, embedded with the model the collection
    was built with, else `embedder` (an already loaded one, e.g. the searcher's), else the bundled MiniLM, on
    `embed_backend`."""
    from retrieval.embedder import build_embedder

    model = store.get_collection(settings.collection).embedder if store.has_collection(settings.collection) else None
    if embedder is None or model not in (None, embedder.name):
        embedder = build_embedder(model, embed_backend, cache_dir=cache_dir)
    return Memory(ChromaMemoryStore(store, embedder, settings.collection), chat, user=user, settings=settings)
