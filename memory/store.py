"""The memory store: one small interface, scoped by namespace, and its Chroma backend.

    store = ChromaMemoryStore(retrieval_store, embedder)       # embedded Chroma or the Chroma server
    rec = store.add("facts:alice", "I work on PostgreSQL 15")
    store.search("facts:alice", "which database?", k=3)         # [MemoryRecord(..., score=0.61)]
    store.update("facts:alice", rec.id, "I work on PostgreSQL 16", action="SUPERSEDE", why="...")
    store.history("facts:alice", rec.id)                        # both values, with when and why
    store.delete("facts:alice", rec.id)                         # the record and its history, everywhere

Every method takes the namespace, and the backend applies it as a `where` filter of the store query itself
(never a prompt instruction): a record of another namespace cannot be returned, updated or deleted, even by
id. A record's history lives inside the record, so deleting it erases the history with it.

Namespaces are `KIND:USER` strings (`facts_namespace("alice")`); `validate_namespace` rejects anything else.
"""

from __future__ import annotations

import builtins
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from memory.errors import MemoryStoreError

if TYPE_CHECKING:
    from retrieval.store import ChunkCollection, Store
    from retrieval.types import Embedder

DEFAULT_COLLECTION = "ragloop-memory"
_NAMESPACE = re.compile(r"^[a-z]+:[A-Za-z0-9._@-]{1,64}$")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an the is are was were be been am i my me we our you your it its of to in on at for and or with what "
        "which who whom how do does did that this there their they them he she his her as by from about",
    )
)
LEXICAL_WEIGHT = 0.25  # hybrid score = 0.75 * cosine similarity + 0.25 * share of the query's words found
MAX_SCAN = 5000  # records read per namespace for the lexical part (one user's memories)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def facts_namespace(user: str) -> str:
    return validate_namespace(f"facts:{user}")


def episodes_namespace(user: str) -> str:
    return validate_namespace(f"episodes:{user}")


def validate_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace or ""):
        raise MemoryStoreError(
            f"Invalid memory namespace {namespace!r}: user names take 1-64 characters from [A-Za-z0-9._@-] "
            "(e.g. --user alice)."
        )
    return namespace


@dataclass
class HistoryEntry:
    """One change of a record: the value it took, the value before, when and why."""

    action: str  # ADD | UPDATE | SUPERSEDE | IMPORT
    text: str
    previous: str | None
    when: str
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MemoryRecord:
    id: str
    namespace: str
    text: str
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific (an episode's answer, verdict, lesson)
    score: float = 0.0  # search only: the hybrid similarity to the query

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryRecord:
        history = [HistoryEntry(**h) for h in data.get("history", [])]
        return cls(
            id=str(data["id"]),
            namespace=str(data["namespace"]),
            text=str(data["text"]),
            created_at=str(data.get("created_at") or now_iso()),
            updated_at=str(data.get("updated_at") or now_iso()),
            history=history,
            data=dict(data.get("data") or {}),
        )


Records = list["MemoryRecord"]
Entries = list["HistoryEntry"]


class MemoryStore(Protocol):
    """What every memory backend implements (the conformance suite in tests/memory checks each one)."""

    def add(self, namespace: str, text: str, *, data: dict[str, Any] | None = None, why: str = "") -> MemoryRecord: ...

    def put(self, record: MemoryRecord) -> MemoryRecord:
        """Store a whole record as is (import, restore)."""
        ...

    def get(self, namespace: str, record_id: str) -> MemoryRecord | None: ...

    def search(self, namespace: str, query: str, k: int = 5, threshold: float = 0.0) -> Records: ...

    def update(
        self, namespace: str, record_id: str, text: str, *, action: str = "UPDATE", why: str = ""
    ) -> MemoryRecord: ...

    def delete(self, namespace: str, record_id: str) -> MemoryRecord | None: ...

    def history(self, namespace: str, record_id: str) -> Entries: ...

    def list(self, namespace: str) -> Records: ...


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def lexical_score(query: str, text: str) -> float:
    """Share of the query's content words found in the text (0..1)."""
    words = content_words(query)
    return len(words & content_words(text)) / len(words) if words else 0.0


class ChromaMemoryStore:
    """`MemoryStore` over a Chroma collection through `retrieval.store` (embedded or server).

    Each record is one entry: its text embedded by `embedder`, metadata `namespace`, `created_at`,
    `updated_at`, `history` and `data` (JSON strings). Search is hybrid: cosine similarity from the store's
    nearest-neighbour query (filtered by namespace) blended with word overlap over the namespace's records.
    """

    def __init__(self, store: Store, embedder: Embedder, collection: str = DEFAULT_COLLECTION) -> None:
        self.embedder = embedder
        self.collection_name = collection
        self._query_cache: dict[str, list[float]] = {}
        self._coll: ChunkCollection = store.create_collection(
            collection, embedder=embedder.name, dimension=embedder.dimension
        )

    def _query_vector(self, query: str) -> list[float]:
        """The query's embedding; the last few are cached (recall searches facts and episodes with one query)."""
        if query not in self._query_cache:
            if len(self._query_cache) >= 8:
                self._query_cache.pop(next(iter(self._query_cache)))
            self._query_cache[query] = list(self.embedder.embed([query], kind="query")[0])
        return self._query_cache[query]

    # -- writes ------------------------------------------------------------------------------------
    def add(self, namespace: str, text: str, *, data: dict[str, Any] | None = None, why: str = "") -> MemoryRecord:
        text = _clean(text)
        when = now_iso()
        record = MemoryRecord(
            id=uuid.uuid4().hex[:16],
            namespace=validate_namespace(namespace),
            text=text,
            created_at=when,
            updated_at=when,
            history=[HistoryEntry("ADD", text, None, when, why)],
            data=dict(data or {}),
        )
        return self.put(record)

    def put(self, record: MemoryRecord) -> MemoryRecord:
        validate_namespace(record.namespace)
        record.text = _clean(record.text)
        vector = self.embedder.embed([record.text], kind="document")[0]
        self._coll.upsert([_to_chunk(record)], [vector])
        return record

    def update(
        self, namespace: str, record_id: str, text: str, *, action: str = "UPDATE", why: str = ""
    ) -> MemoryRecord:
        record = self.get(namespace, record_id)
        if record is None:
            raise MemoryStoreError(f"No memory {record_id!r} for {namespace}: see `ragloop memory list`.")
        text = _clean(text)
        when = now_iso()
        record.history.append(HistoryEntry(action, text, record.text, when, why))
        record.text, record.updated_at = text, when
        return self.put(record)

    def delete(self, namespace: str, record_id: str) -> MemoryRecord | None:
        record = self.get(namespace, record_id)
        if record is None:
            return None
        self._coll.delete(where={"$and": [{"namespace": validate_namespace(namespace)}, {"record_id": record_id}]})
        return record

    # -- reads -------------------------------------------------------------------------------------
    def get(self, namespace: str, record_id: str) -> MemoryRecord | None:
        where = {"$and": [{"namespace": validate_namespace(namespace)}, {"record_id": record_id}]}
        found = self._coll.get(where=where)
        return _from_chunk(found[0]) if found else None

    def history(self, namespace: str, record_id: str) -> Entries:
        record = self.get(namespace, record_id)
        return list(record.history) if record else []

    def list(self, namespace: str) -> Records:
        records = [_from_chunk(c) for c in self._coll.get(where={"namespace": validate_namespace(namespace)})]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    def search(self, namespace: str, query: str, k: int = 5, threshold: float = 0.0) -> Records:
        validate_namespace(namespace)
        if k <= 0 or not query.strip():
            return []
        vector = self._query_vector(query)
        total = len(self._coll.ids(where={"namespace": namespace}))
        if total == 0:
            return []
        dense = {
            chunk.id: (chunk, 1.0 - dist)
            for chunk, dist in self._coll.query(vector, min(total, max(k * 4, 20)), where={"namespace": namespace})
        }
        scored: dict[str, MemoryRecord] = {}
        candidates: builtins.list[tuple[Any, float | None]] = [*dense.values()]
        if total <= MAX_SCAN:  # the lexical side: records that share words with the query but ranked low
            seen = set(dense)
            candidates += [(c, None) for c in self._coll.get(where={"namespace": namespace}) if c.id not in seen]
        for chunk, similarity in candidates:
            lexical = lexical_score(query, chunk.text)
            if similarity is None:
                if lexical == 0:
                    continue
                similarity = _cosine(vector, self._coll.embeddings([chunk.id]).get(chunk.id, []))
            record = _from_chunk(chunk)
            record.score = round((1 - LEXICAL_WEIGHT) * similarity + LEXICAL_WEIGHT * lexical, 4)
            if record.score >= threshold:
                scored[record.id] = record
        return sorted(scored.values(), key=lambda r: -r.score)[:k]


def _clean(text: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise MemoryStoreError("A memory needs some text.")
    return text


def _cosine(a: list[float], b: list[float]) -> float:
    if not b:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0


def _to_chunk(record: MemoryRecord) -> Any:
    from retrieval.types import Chunk

    return Chunk(
        id=f"{record.namespace}/{record.id}",
        text=record.text,
        doc_id=record.namespace,
        source="memory",
        metadata={
            "namespace": record.namespace,
            "record_id": record.id,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "history": json.dumps([h.to_dict() for h in record.history]),
            "data": json.dumps(record.data),
        },
    )


def _from_chunk(chunk: Any) -> MemoryRecord:
    meta: dict[str, Any] = chunk.metadata
    return MemoryRecord(
        id=str(meta["record_id"]),
        namespace=str(meta["namespace"]),
        text=chunk.text,
        created_at=str(meta.get("created_at", "")),
        updated_at=str(meta.get("updated_at", "")),
        history=[HistoryEntry(**h) for h in _json(meta.get("history"), [])],
        data=_json(meta.get("data"), {}),
    )


def _json(value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default
