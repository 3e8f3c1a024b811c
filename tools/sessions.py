"""Per-call store access for long-running processes (the MCP server): the lock is held only during a call.

The embedded Chroma store allows one process at a time (retrieval/store.py takes an inter-process lock for as
long as a `Store` is open). A server that kept the store open would turn every `ragloop ingest` in a terminal
into "store locked". So `StoreSessions.open()` opens the store for one call and closes it after: concurrent
calls inside the process share one open store (reference-counted), and the lock is released as soon as the
last of them ends. A call that finds another process writing waits up to `lock_wait` seconds for its turn, then
fails with a message that says what is going on (the ingest keeps the lock until it has finished).

What is expensive and does not depend on the open store is cached across calls: embedders and the reranker
(model loads), and BM25 indexes by the fingerprint of the chunk ids the manifest names, so a collection
re-ingested by another process is picked up on the next call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.bm25 import BM25Index
    from retrieval.search import HybridSearcher
    from retrieval.store import Store
    from retrieval.types import Reranker, Retriever, SearchHit

DEFAULT_LOCK_WAIT_S = 10.0


class StoreBusyError(Exception):
    """Another process holds the embedded store for longer than a call may wait."""


class StoreSessions:
    def __init__(
        self,
        home: Path,
        chroma_url: str | None = None,
        *,
        embedder: str | None = None,
        embed_backend: str = "torch",
        rerank_model: str | None = None,
        rerank_backend: str = "onnx-int8",
        rerank_weight: float | None = None,
        lock_wait: float = DEFAULT_LOCK_WAIT_S,
    ) -> None:
        self.home = Path(home)
        self.chroma_url = chroma_url
        self.embedder_model = embedder  # None: each collection's own model
        self.embed_backend = embed_backend
        self.rerank_model = rerank_model
        self.rerank_backend = rerank_backend
        self.rerank_weight = rerank_weight
        self.lock_wait = lock_wait
        self._guard = threading.Lock()
        self._store: Store | None = None
        self._users = 0
        self._embedders: dict[str, Any] = {}
        self._reranker: Reranker | None = None
        self._bm25: dict[str, BM25Index] = {}
        self._models = threading.Lock()
        self._collection_models: dict[str, str | None] = {}

    @contextlib.contextmanager
    def open(self) -> Iterator[Session]:
        """The store for one call (the embedded store's lock is taken now and released when the last open
        session of this process ends)."""
        store = self._acquire()
        try:
            yield Session(self, store)
        finally:
            self._release()

    def _acquire(self) -> Store:
        from retrieval.errors import StoreLockedError
        from retrieval.store import open_store

        with self._guard:
            if self._store is None:
                try:
                    self._store = open_store(self.home, self.chroma_url, lock_timeout=self.lock_wait)
                except StoreLockedError as exc:
                    raise StoreBusyError(
                        f"another ragloop process (an ingest?) has been writing the data directory {self.home} "
                        f"for more than {self.lock_wait:g} s; try again when it has finished"
                    ) from exc
            self._users += 1
            return self._store

    def _release(self) -> None:
        with self._guard:
            self._users -= 1
            if self._users == 0 and self._store is not None:
                store, self._store = self._store, None
                store.close()

    def warm(self, collection: str) -> None:
        """Load the models a search of `collection` needs *before* taking the lock for the search, so a first
        call (seconds of model loading) does not keep another process's ingest waiting. The store is opened
        only for a moment, to read which embedding model the collection was built with."""
        if self.embedder_model is None and collection not in self._collection_models:
            with self.open() as session:
                if not session.store.has_collection(collection):
                    return  # the search itself reports the missing collection
                stored = session.store.get_collection(collection).embedder
            self._collection_models[collection] = stored.split("@", 1)[0] if stored else None
        self.embedder(self.model_for(collection))
        self.reranker()

    def remember_model(self, collection: str, model: str | None) -> None:
        self._collection_models[collection] = model

    def model_for(self, collection: str) -> str | None:
        """The embedding model for `collection`: the configured one, else the one it was built with."""
        if self.embedder_model is not None:
            return self.embedder_model
        return self._collection_models.get(collection)

    # -- cached models ------------------------------------------------------------------------------
    def embedder(self, name: str | None) -> Any:
        from retrieval.embedder import build_embedder

        key = name or ""
        with self._models:
            if key not in self._embedders:
                self._embedders[key] = build_embedder(name, self.embed_backend, cache_dir=self.home / "onnx")
            return self._embedders[key]

    def reranker(self) -> Reranker | None:
        if not self.rerank_model:
            return None
        from retrieval.reranker import build_reranker

        with self._models:
            if self._reranker is None:
                self._reranker = build_reranker(self.rerank_model, self.rerank_backend, cache_dir=self.home / "onnx")
            return self._reranker

    def bm25(self, collection: Any, visible: set[str] | None) -> BM25Index:
        from retrieval.bm25 import ensure_index, fingerprint

        wanted = fingerprint(visible if visible is not None else collection.ids())
        with self._models:
            cached = self._bm25.get(collection.name)
            if cached is None or cached.fingerprint != wanted:
                cached = self._bm25[collection.name] = ensure_index(self.home, collection, visible)
            return cached


class Session:
    """One call's view of the store: `store`, and `searcher(collection)` built on the cached models."""

    def __init__(self, owner: StoreSessions, store: Store) -> None:
        self.owner = owner
        self.store = store

    def searcher(self, collection: str) -> HybridSearcher:
        from retrieval.manifest import current_chunk_ids
        from retrieval.reranker import default_rerank_weight
        from retrieval.search import HybridSearcher

        coll = self.store.get_collection(collection)
        name = self.owner.embedder_model
        if name is None and coll.embedder:
            name = coll.embedder.split("@", 1)[0]
            self.owner.remember_model(collection, name)
        visible = current_chunk_ids(self.store, collection)
        owner = self.owner
        weight = owner.rerank_weight
        return HybridSearcher(
            coll,
            owner.embedder(name),
            bm25=owner.bm25(coll, visible),
            reranker=owner.reranker(),
            rerank_weight=default_rerank_weight(owner.rerank_model) if weight is None else weight,
            visible_ids=visible,
        )


class SessionRetriever:
    """A `Retriever` for an agent inside a long-running process: each search opens a session (the lock is held
    for the search only, not for the model's answer). `wrap` adapts the searcher (e.g. the CLI's dense-score
    filler)."""

    def __init__(
        self,
        sessions: StoreSessions,
        collection: str,
        wrap: Callable[[HybridSearcher], Retriever] | None = None,
    ) -> None:
        self.sessions = sessions
        self.collection = collection
        self.wrap = wrap

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        self.sessions.warm(self.collection)
        with self.sessions.open() as session:
            searcher = session.searcher(self.collection)
            retriever: Retriever = self.wrap(searcher) if self.wrap else searcher
            return retriever.search(query, k)

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """`retrieval.types.Vocabulary`, from the collection's searcher."""
        with self.sessions.open() as session:
            return session.searcher(self.collection).unknown_terms(terms)
