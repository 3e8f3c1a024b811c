"""The Chroma store adapter: the only module that imports chromadb.

`open_store(home, chroma_url)` returns a `Store` (the client); `Store.collection(name)` returns a
`ChunkCollection` holding `Chunk`s with their embeddings. Embeddings are always computed by the project
(Chroma's default embedding function downloads a model, so it is never used).

Locking: embedded Chroma (`PersistentClient` under `home/chroma`) is not safe to share between processes,
so opening the embedded store takes an exclusive inter-process lock on `home/chroma.lock` for as long as the
`Store` is open, readers included (a reader in a second process could see a half-written HNSW index).
Inside one process the lock is shared and reference-counted, so several `Store`s on one home coexist.
A second process gets `StoreLockedError` telling it to use the Chroma server. With `chroma_url` there is no
local lock: the server serializes access.

Chunk metadata in Chroma: `doc_id, source, title, heading_path` (JSON string), `page` (absent when None),
`start, end, doc_hash`, and every key of `Chunk.metadata` at top level (scalars as is, other values as JSON
strings, None dropped), so `where` filters such as `{"source": "a.md"}` or `{"page": 3}` work directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.errors import CollectionNotFoundError, RetrievalError, StoreLockedError
from retrieval.types import Chunk

LOCK_FILENAME = "chroma.lock"
CHROMA_DIRNAME = "chroma"
LOCK_TIMEOUT_S = 1.0
RESERVED_KEYS = ("doc_id", "source", "title", "heading_path", "page", "start", "end", "doc_hash")
EMBEDDER_KEY = "ragloop_embedder"
DIMENSION_KEY = "ragloop_dimension"
_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]$")
Where = dict[str, Any]


def validate_collection_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise RetrievalError(
            f"Invalid collection name {name!r}: use 3-512 characters from [a-zA-Z0-9._-], "
            "starting and ending with a letter or digit (e.g. --collection my-docs)."
        )
    return name


def chunk_to_metadata(chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in chunk.metadata.items():
        if key in RESERVED_KEYS or value is None:
            continue
        meta[key] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    meta.update(
        doc_id=chunk.doc_id,
        source=chunk.source,
        title=chunk.title,
        heading_path=json.dumps(list(chunk.heading_path)),
        start=int(chunk.start),
        end=int(chunk.end),
        doc_hash=chunk.doc_hash,
    )
    if chunk.page is not None:
        meta["page"] = int(chunk.page)
    return meta


def metadata_to_chunk(chunk_id: str, text: str | None, meta: dict[str, Any] | None) -> Chunk:
    meta = dict(meta or {})
    try:
        heading_path = json.loads(meta.get("heading_path") or "[]")
    except (TypeError, ValueError):
        heading_path = []
    page = meta.get("page")
    return Chunk(
        id=chunk_id,
        text=text or "",
        doc_id=str(meta.get("doc_id", "")),
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        heading_path=[str(h) for h in heading_path] if isinstance(heading_path, list) else [],
        page=int(page) if page is not None else None,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        doc_hash=str(meta.get("doc_hash", "")),
        metadata={k: v for k, v in meta.items() if k not in RESERVED_KEYS},
    )


def _normalize_where(where: Where | None) -> Where | None:
    """Chroma wants one top-level operator; `{"a": 1, "b": 2}` becomes `{"$and": [{"a": 1}, {"b": 2}]}`."""
    if not where:
        return None
    if len(where) > 1 and not any(key.startswith("$") for key in where):
        return {"$and": [{key: value} for key, value in where.items()]}
    return where


def _chroma_call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a chromadb call, turning its input errors (e.g. a malformed `where`) into `RetrievalError`."""
    from chromadb.errors import ChromaError, NotFoundError

    try:
        return fn(*args, **kwargs)
    except NotFoundError as exc:
        raise CollectionNotFoundError(f"{what}: {exc}. List collections with `ragloop collections list`.") from exc
    except (ChromaError, ValueError, TypeError) as exc:
        raise RetrievalError(f"{what} failed: {exc}") from exc


@dataclass
class CollectionStats:
    name: str
    chunks: int
    documents: int
    embedder: str | None
    dimension: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "chunks": self.chunks,
            "documents": self.documents,
            "embedder": self.embedder,
            "dimension": self.dimension,
        }


class ChunkCollection:
    """One collection: chunks with their embeddings. Methods take and return plain `Chunk`s."""

    def __init__(self, collection: Any, batch_size: int) -> None:
        self._col = collection
        self._batch = max(1, batch_size)
        self.name: str = collection.name

    @property
    def embedder(self) -> str | None:
        value = (self._col.metadata or {}).get(EMBEDDER_KEY)
        return str(value) if value is not None else None

    @property
    def dimension(self) -> int | None:
        value = (self._col.metadata or {}).get(DIMENSION_KEY)
        return int(value) if value is not None else None

    def count(self) -> int:
        return int(_chroma_call(f"count {self.name!r}", self._col.count))

    def upsert(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]] | Any) -> None:
        """Insert or replace chunks by id; `embeddings` is a list of vectors or a 2-D numpy array."""
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        dim = self.dimension
        for start in range(0, len(chunks), self._batch):
            part = chunks[start : start + self._batch]
            vectors = embeddings[start : start + self._batch]
            if dim is not None and len(vectors) and len(vectors[0]) != dim:
                raise RetrievalError(
                    f"Collection {self.name!r} holds {dim}-dimensional embeddings ({self.embedder}); "
                    f"got {len(vectors[0])}. Use the same embedding model or another collection."
                )
            _chroma_call(
                f"upsert into {self.name!r}",
                self._col.upsert,
                ids=[c.id for c in part],
                embeddings=vectors,
                documents=[c.text for c in part],
                metadatas=[chunk_to_metadata(c) for c in part],
            )

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        if ids is not None:
            ids = list(ids)
            for start in range(0, len(ids), self._batch):
                _chroma_call(f"delete from {self.name!r}", self._col.delete, ids=ids[start : start + self._batch])
        elif where:
            _chroma_call(f"delete from {self.name!r}", self._col.delete, where=_normalize_where(where))
        else:
            raise ValueError("delete() needs ids or a where filter")

    def get(self, ids: Sequence[str] | None = None, where: Where | None = None) -> list[Chunk]:
        """Chunks by id (in the order given, missing ids skipped) or by metadata filter."""
        out: dict[str, Chunk] = {}
        for chunk_ids, texts, metas in self._pages(ids, where, include=["documents", "metadatas"]):
            for cid, text, meta in zip(chunk_ids, texts, metas, strict=True):
                out[cid] = metadata_to_chunk(cid, text, meta)
        if ids is not None:
            return [out[i] for i in ids if i in out]
        return list(out.values())

    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by chunk id (missing ids absent)."""
        out: dict[str, list[float]] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), self._batch):
            res = _chroma_call(
                f"read {self.name!r}", self._col.get, ids=id_list[start : start + self._batch], include=["embeddings"]
            )
            vectors = res.get("embeddings")
            if vectors is None:
                continue
            for cid, vec in zip(res["ids"], vectors, strict=True):
                out[cid] = [float(x) for x in vec]
        return out

    def ids(self, where: Where | None = None) -> list[str]:
        return [cid for page_ids, _, _ in self._pages(None, where, include=[]) for cid in page_ids]

    def iter_texts(self, page_size: int = 5000) -> Iterator[tuple[list[str], list[str]]]:
        """All (ids, texts) page by page, for rebuilding the BM25 index."""
        for page_ids, texts, _ in self._pages(None, None, include=["documents"], page_size=page_size):
            yield page_ids, [t or "" for t in texts]

    def documents(self) -> dict[str, str]:
        """doc_id -> doc_hash of every stored document (for incremental ingest)."""
        docs: dict[str, str] = {}
        for _, _, metas in self._pages(None, None, include=["metadatas"]):
            for meta in metas:
                meta = meta or {}
                docs[str(meta.get("doc_id", ""))] = str(meta.get("doc_hash", ""))
        return docs

    def query(self, embedding: Sequence[float], k: int, where: Where | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine distance (0 = same direction), best first."""
        if k <= 0:
            return []
        result = _chroma_call(
            f"query {self.name!r}",
            self._col.query,
            query_embeddings=[list(map(float, embedding))],
            n_results=k,
            where=_normalize_where(where),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = (result.get("documents") or [[None] * len(ids)])[0]
        metas = (result.get("metadatas") or [[None] * len(ids)])[0]
        dists = (result.get("distances") or [[0.0] * len(ids)])[0]
        return [
            (metadata_to_chunk(cid, doc, meta), float(dist))
            for cid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def stats(self) -> CollectionStats:
        return CollectionStats(
            name=self.name,
            chunks=self.count(),
            documents=len(self.documents()),
            embedder=self.embedder,
            dimension=self.dimension,
        )

    def _pages(
        self,
        ids: Sequence[str] | None,
        where: Where | None,
        include: list[str],
        page_size: int | None = None,
    ) -> Iterator[tuple[list[str], list[str | None], list[dict[str, Any] | None]]]:
        size = page_size or self._batch
        what = f"read {self.name!r}"
        if ids is not None:
            id_list = list(ids)
            for start in range(0, len(id_list), size):
                res = _chroma_call(what, self._col.get, ids=id_list[start : start + size], include=include)
                yield self._unpack(res)
            return
        offset = 0
        while True:
            res = _chroma_call(
                what, self._col.get, where=_normalize_where(where), limit=size, offset=offset, include=include
            )
            page = self._unpack(res)
            if not page[0]:
                return
            yield page
            if len(page[0]) < size:
                return
            offset += len(page[0])

    @staticmethod
    def _unpack(res: Any) -> tuple[list[str], list[str | None], list[dict[str, Any] | None]]:
        ids = list(res["ids"])
        docs = res.get("documents") or [None] * len(ids)
        metas = res.get("metadatas") or [None] * len(ids)
        return ids, list(docs), [dict(m) if m else None for m in metas]


class Store:
    """A Chroma client (embedded or HTTP) and, for the embedded store, the inter-process lock."""

    def __init__(self, client: Any, location: str, lock: Any | None = None) -> None:
        self._client = client
        self._lock = lock
        self.location = location
        self._closed = False
        try:
            self._batch = int(client.get_max_batch_size())
        except Exception:  # pragma: no cover - older servers
            self._batch = 5000
        self._batch = min(self._batch, 5000)

    # -- collections ------------------------------------------------------------------------------
    def list_collections(self) -> list[str]:
        cols = _chroma_call("list collections", self._client.list_collections)
        return sorted(c if isinstance(c, str) else c.name for c in cols)

    def create_collection(
        self, name: str, embedder: str | None = None, dimension: int | None = None
    ) -> ChunkCollection:
        """Get the collection, creating it (cosine space) if needed; checks it holds `embedder`'s vectors."""
        validate_collection_name(name)
        metadata: dict[str, Any] = {"created_by": "ragloop"}
        if embedder is not None:
            metadata[EMBEDDER_KEY] = embedder
        if dimension is not None:
            metadata[DIMENSION_KEY] = int(dimension)
        col = _chroma_call(
            f"create collection {name!r}",
            self._client.get_or_create_collection,
            name=name,
            embedding_function=None,
            metadata=metadata,
            configuration={"hnsw": {"space": "cosine"}},
        )
        coll = ChunkCollection(col, self._batch)
        if embedder is not None and coll.embedder not in (None, embedder):
            from retrieval.embedder import mismatch_error

            raise mismatch_error(name, coll.embedder, embedder, "ingest")
        return coll

    def get_collection(self, name: str) -> ChunkCollection:
        validate_collection_name(name)
        from chromadb.errors import NotFoundError

        try:
            col = self._client.get_collection(name=name, embedding_function=None)
        except NotFoundError as exc:
            raise CollectionNotFoundError(
                f"Collection {name!r} does not exist in {self.location}. "
                "Create it with `ragloop ingest PATH --collection NAME`, or see `ragloop collections list`."
            ) from exc
        return ChunkCollection(col, self._batch)

    def has_collection(self, name: str) -> bool:
        return name in self.list_collections()

    def delete_collection(self, name: str) -> None:
        self.get_collection(name)  # a clear error when it does not exist
        _chroma_call(f"delete collection {name!r}", self._client.delete_collection, name=name)

    def stats(self, name: str) -> CollectionStats:
        return self.get_collection(name).stats()

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            _close_client(self._client)
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_client(client: Any) -> None:
    """Close a chromadb client, and for HTTP the connection pools of its API and admin API (chromadb's
    `close()` leaves them open). HTTP clients never share their systems (random identifiers)."""
    servers = [getattr(client, "_server", None)]
    admin = getattr(client, "_admin_client", None)
    servers.append(getattr(admin, "_server", None))
    client.close()
    for server in servers:
        session = getattr(server, "_session", None)
        if session is not None and hasattr(session, "close"):
            session.close()


def lock_path(home: Path) -> Path:
    return Path(home) / LOCK_FILENAME


def _store_locked_message(home: Path) -> str:
    return (
        f"Another ragloop process holds the embedded store in {home / CHROMA_DIRNAME} (lock {lock_path(home)}). "
        "Embedded Chroma cannot be shared between processes: run a Chroma server with "
        f"`chroma run --path {home / CHROMA_DIRNAME} --host 127.0.0.1 --port 8000` and pass "
        "`--chroma-url http://127.0.0.1:8000` (or set RAGLOOP_CHROMA_URL) in every process."
    )


def open_store(
    home: Path,
    chroma_url: str | None = None,
    lock_timeout: float = LOCK_TIMEOUT_S,
    on_wait: Callable[[str], None] | None = None,
) -> Store:
    """Open the embedded store under `home/chroma` (exclusive lock), or the Chroma server at `chroma_url`.

    Another process holding the lock (e.g. `ragloop mcp` during a call) is waited for up to `lock_timeout`
    seconds; `on_wait` is told once when the wait is longer than a second."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        parsed = urlparse(chroma_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RetrievalError(f"Invalid --chroma-url {chroma_url!r}: expected e.g. http://127.0.0.1:8000")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        client = None
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=chroma_settings
            )
            client.heartbeat()
        except Exception as exc:
            if client is not None:
                _close_client(client)
            raise RetrievalError(
                f"Cannot reach the Chroma server at {chroma_url} ({type(exc).__name__}: {exc}). Start it with "
                "`chroma run --path DIR --host 127.0.0.1 --port PORT`, or drop --chroma-url to use the "
                "embedded store."
            ) from exc
        return Store(client, chroma_url)

    from filelock import FileLock, Timeout

    home = Path(home).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    # is_singleton + thread_local=False: one reference-counted lock per path in this process.
    # the timeout is given per acquire: a singleton lock must be constructed with the same arguments each time
    lock = FileLock(str(lock_path(home)), timeout=LOCK_TIMEOUT_S, thread_local=False, is_singleton=True)
    try:
        try:
            lock.acquire(timeout=min(lock_timeout, 1.0))
        except Timeout:
            if lock_timeout <= 1.0:
                raise
            if on_wait is not None:
                on_wait(f"waiting up to {lock_timeout:g} s for another ragloop process to release the store…")
            lock.acquire(timeout=lock_timeout - 1.0)
    except Timeout as exc:
        raise StoreLockedError(_store_locked_message(home)) from exc
    try:
        path = home / CHROMA_DIRNAME
        client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        lock.release()
        raise RetrievalError(f"Cannot open the embedded store in {home / CHROMA_DIRNAME}: {exc}") from exc
    return Store(client, str(path), lock)
