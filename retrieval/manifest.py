"""The per-collection document manifest: the source of truth for which chunks make up each document.

Where it lives: a small sidecar collection `<name>__docs` in the same Chroma store, one record per
document (id = doc_id; document = JSON with the chunk ids and the chunking signature; metadata =
doc_hash, origin file, title), plus one state record. Living in Chroma itself, it works unchanged with
the embedded store and with the Chroma server, and is deleted along with the collection. Sidecar
records carry a dummy 1-dimensional embedding; they are never queried by vector.

Why it makes ingest crash-consistent: Chroma has no multi-record transactions, but writing one record
is atomic. The ingest writes a document's new chunks first (new ids, because chunk ids include the
content hash), then switches its manifest record in one upsert, then deletes the old chunks. Killed at
any point, every document's manifest record names a complete set of chunks, old or new; the only debris
is orphan chunks that no record names. The state record's `dirty` flag is set before the first write
and cleared after the last, so the next ingest knows when to look for orphans and delete them.
Readers that must never see a half-updated document keep only chunks whose id is in `chunk_ids()`
(or whose `doc_hash` equals the document's record).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from retrieval.errors import RetrievalError
from retrieval.store import ChunkCollection, Store, validate_collection_name
from retrieval.types import Chunk

MANIFEST_SUFFIX = "__docs"
MANIFEST_EMBEDDER = "ragloop-manifest"
STATE_ID = "__ragloop_state__"
_DUMMY_VECTOR = [1.0]


def manifest_name(collection: str) -> str:
    return f"{collection}{MANIFEST_SUFFIX}"


def is_manifest_name(name: str) -> bool:
    return name.endswith(MANIFEST_SUFFIX)


def check_collection_name(name: str) -> str:
    """A valid name for a user collection (Chroma's rules, and not a manifest's)."""
    validate_collection_name(name)
    if is_manifest_name(name):
        raise RetrievalError(
            f"Collection names ending in {MANIFEST_SUFFIX!r} are reserved for ragloop's document manifests; "
            f"choose another --collection than {name!r}."
        )
    return name


@dataclass
class DocEntry:
    doc_id: str
    doc_hash: str
    signature: str  # chunking + embedding settings the chunks were made with
    origin: str  # the file the document came from (absolute path)
    title: str = ""
    chunk_ids: list[str] = field(default_factory=list)

    def to_record(self) -> Chunk:
        payload = json.dumps({"chunk_ids": self.chunk_ids, "signature": self.signature})
        return Chunk(
            id=self.doc_id,
            text=payload,
            doc_id=self.doc_id,
            source=self.origin,
            title=self.title,
            doc_hash=self.doc_hash,
            metadata={"kind": "doc", "chunks": len(self.chunk_ids)},
        )

    @classmethod
    def from_record(cls, record: Chunk) -> DocEntry:
        try:
            payload = json.loads(record.text)
            chunk_ids = [str(c) for c in payload["chunk_ids"]]
            signature = str(payload["signature"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RetrievalError(
                f"The manifest record of {record.doc_id!r} is damaged ({exc}); re-ingest into a new collection."
            ) from exc
        return cls(
            doc_id=record.doc_id,
            doc_hash=record.doc_hash,
            signature=signature,
            origin=record.source,
            title=record.title,
            chunk_ids=chunk_ids,
        )


class Manifest:
    """The documents of one collection, loaded into memory; writes go straight to the sidecar."""

    def __init__(self, records: ChunkCollection, entries: dict[str, DocEntry], state: dict[str, Any]) -> None:
        self._records = records
        self.entries = entries
        self.state = state

    @classmethod
    def open(cls, store: Store, collection: str, *, create: bool = True) -> Manifest | None:
        """The manifest of `collection` (created empty when `create`), or None when it has none."""
        name = manifest_name(collection)
        if create:
            records = store.create_collection(name, embedder=MANIFEST_EMBEDDER, dimension=1)
        elif store.has_collection(name):
            records = store.get_collection(name)
        else:
            return None
        entries: dict[str, DocEntry] = {}
        state: dict[str, Any] = {}
        for record in records.get():
            if record.id == STATE_ID:
                try:
                    state = dict(json.loads(record.text or "{}"))
                except ValueError:
                    state = {"dirty": True}  # unreadable state: assume the worst, look for orphans
                continue
            entries[record.id] = DocEntry.from_record(record)
        return cls(records, entries, state)

    # -- reading ----------------------------------------------------------------------------------
    def get(self, doc_id: str) -> DocEntry | None:
        return self.entries.get(doc_id)

    def __len__(self) -> int:
        return len(self.entries)

    def chunk_ids(self) -> set[str]:
        return {cid for entry in self.entries.values() for cid in entry.chunk_ids}

    def chunk_count(self) -> int:
        return sum(len(entry.chunk_ids) for entry in self.entries.values())

    @property
    def dirty(self) -> bool:
        return bool(self.state.get("dirty"))

    # -- writing ----------------------------------------------------------------------------------
    def put(self, entries: Iterable[DocEntry]) -> None:
        """Switch these documents to their new entries (each record upsert is atomic)."""
        batch = list(entries)
        if not batch:
            return
        self._records.upsert([e.to_record() for e in batch], [_DUMMY_VECTOR] * len(batch))
        for entry in batch:
            self.entries[entry.doc_id] = entry

    def remove(self, doc_ids: Iterable[str]) -> None:
        ids = [d for d in doc_ids if d in self.entries]
        if not ids:
            return
        self._records.delete(ids=ids)
        for doc_id in ids:
            del self.entries[doc_id]

    def mark_dirty(self) -> None:
        if not self.dirty:
            self._write_state({"dirty": True, "since": time.time()})

    def mark_clean(self) -> None:
        self._write_state({"dirty": False, "updated": time.time()})

    def _write_state(self, state: dict[str, Any]) -> None:
        record = Chunk(id=STATE_ID, text=json.dumps(state), doc_id=STATE_ID, source="", metadata={"kind": "state"})
        self._records.upsert([record], [_DUMMY_VECTOR])
        self.state = state


def delete_manifest(store: Store, collection: str) -> None:
    name = manifest_name(collection)
    if store.has_collection(name):
        store.delete_collection(name)


def current_chunk_ids(store: Store, collection: str) -> set[str] | None:
    """The chunk ids the manifest names: what a reader should trust while an ingest is running or after
    one was interrupted. None for a collection without a manifest (filled by other means than `ingest`)."""
    manifest = Manifest.open(store, collection, create=False)
    return None if manifest is None else manifest.chunk_ids()


def interrupted_ingest_warning(store: Store, collection: str) -> str | None:
    """A warning to show before searching `collection` when its last ingest did not finish (the manifest's
    `dirty` flag is still set), else None. Searches then see only the documents that ingest had committed."""
    manifest = Manifest.open(store, collection, create=False)
    if manifest is None or not manifest.dirty:
        return None
    since = manifest.state.get("since")
    when = time.strftime(" (started %Y-%m-%d %H:%M UTC)", time.gmtime(since)) if isinstance(since, int | float) else ""
    return (
        f"the last ingest into {collection!r}{when} did not finish (interrupted, or still running), so the "
        "collection may be missing documents; run the same `ragloop ingest` again to complete it"
    )
