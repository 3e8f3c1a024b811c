"""Hybrid search: dense (Chroma) + BM25 candidates, reciprocal rank fusion, optional cross-encoder rerank
and MMR de-duplication. `HybridSearcher` implements `retrieval.types.Retriever`.

Stages and the scores they leave in `SearchHit.scores`:
- "dense": cosine similarity of query and chunk (1 - Chroma's cosine distance);
- "bm25": BM25 score (0 for a chunk that shares no term with the query);
- "rrf": reciprocal rank fusion (k=60) of the dense and BM25 rankings (hybrid mode). In hybrid mode every
  fused candidate carries all three: a chunk found by one retriever only is scored by the other too, from
  the same query embedding (its stored vector) and the same BM25 index, so callers never re-embed;
- "rerank": cross-encoder score of the top `candidates` fused hits, when a reranker is given and not turned
  off (with k > candidates the other hits follow in fused order, scored by their earlier stage). With
  `rerank_weight` below 1 the candidates are ordered by a weighted RRF of the reranker's ranking (weight w)
  and the earlier ranking (1 - w), left in "rerank_fused"; at 1 (the default) the reranker's order alone;
- "mmr": the MMR value, when de-duplication is on.
`SearchHit.score` is the score of the last stage that ordered the hits.
The `where` metadata filter (Chroma syntax) restricts both the dense and the BM25 candidates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from retrieval.bm25 import BM25Index, ensure_index
from retrieval.errors import RetrievalError
from retrieval.fusion import RRF_K, reciprocal_rank_fusion
from retrieval.manifest import current_chunk_ids
from retrieval.mmr import MMR_LAMBDA, mmr_order
from retrieval.reranker import RERANK_OFF_NOTE
from retrieval.store import ChunkCollection, Where
from retrieval.types import Chunk, Embedder, Reranker, SearchHit, SearchMode

DEFAULT_CANDIDATES = 30
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)


def parse_where(text: str | None) -> Where | None:
    """A `--where` JSON object (Chroma filter syntax), or a `RetrievalError` saying what is wrong."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise RetrievalError("--where is nested too deeply to be a filter; pass a flat JSON object.") from exc
    except json.JSONDecodeError as exc:
        raise RetrievalError(
            f"--where is not valid JSON ({exc.msg} at position {exc.pos}): {text!r}. "
            'Example: --where \'{"source": "docs/install.md"}\' or \'{"page": {"$gte": 3}}\''
        ) from exc
    if not isinstance(value, dict) or not value:
        raise RetrievalError(f'--where must be a non-empty JSON object such as {{"source": "a.md"}}, got {text!r}')
    return value


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two vectors (the store's distance is 1 - cosine)."""
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / norm) if norm else 0.0


def check_mode(mode: str) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise RetrievalError(f"Unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}.")
    return mode  # type: ignore[return-value]


def _base_name(name: str | None) -> str | None:
    return name.split("@", 1)[0] if name else name


@dataclass
class SearchResult:
    query: str
    mode: SearchMode
    hits: list[SearchHit]
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "notes": self.notes,
            "timings_ms": {key: round(value, 2) for key, value in self.timings_ms.items()},
            "hits": [
                {
                    "rank": hit.rank,
                    "score": hit.score,
                    "scores": hit.scores,
                    "text": hit.chunk.text,
                    "doc_id": hit.chunk.doc_id,
                    "metadata": hit.chunk.metadata,
                    **hit.citation(),
                }
                for hit in self.hits
            ],
        }


class HybridSearcher:
    """Searches one collection. Heavy parts (BM25 index, models) load on first use."""

    def __init__(
        self,
        collection: ChunkCollection,
        embedder: Embedder,
        *,
        home: Path | None = None,
        bm25: BM25Index | None = None,
        reranker: Reranker | None = None,
        mode: SearchMode = "hybrid",
        candidates: int = DEFAULT_CANDIDATES,
        where: Where | None = None,
        mmr: bool = False,
        mmr_lambda: float = MMR_LAMBDA,
        rrf_k: int = RRF_K,
        rerank_weight: float = 1.0,
        visible_ids: Set[str] | None = None,
    ) -> None:
        if bm25 is None and home is None:
            raise ValueError("HybridSearcher needs the BM25 index or the home directory it lives in")
        if candidates < 1:
            raise RetrievalError("--candidates must be at least 1")
        if not 0.0 <= rerank_weight <= 1.0:
            raise RetrievalError(f"rerank_weight must be between 0 and 1, not {rerank_weight}")
        stored = _base_name(collection.embedder)
        if stored is not None and stored != _base_name(embedder.name):
            from retrieval.embedder import mismatch_error

            raise mismatch_error(collection.name, stored, embedder.name, "search")
        self.collection = collection
        self.embedder = embedder
        self.reranker = reranker
        self.mode = check_mode(mode)
        self.candidates = candidates
        self.where = where
        self.mmr = mmr
        self.mmr_lambda = mmr_lambda
        self.rrf_k = rrf_k
        self.rerank_weight = rerank_weight
        self._home = home
        self._bm25 = bm25
        # the ingest manifest's chunk ids: chunks outside it (an interrupted ingest's) are never returned
        self.visible_ids = visible_ids

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            assert self._home is not None
            self._bm25 = ensure_index(self._home, self.collection, self.visible_ids)
        return self._bm25

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        return self.run(query, k).hits

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """`retrieval.types.Vocabulary`: the terms no chunk of the collection contains (its BM25 vocabulary);
        none without a BM25 index to ask."""
        if self._bm25 is None and self._home is None:
            return []
        return self.bm25.unknown_terms(terms)

    def run(
        self,
        query: str,
        k: int = 5,
        *,
        mode: SearchMode | None = None,
        where: Where | None = None,
        rerank: bool = True,
    ) -> SearchResult:
        """Search with the searcher's settings, optionally overriding mode / where / rerank per call."""
        mode = check_mode(mode or self.mode)
        where = where if where is not None else self.where
        if k < 1:
            raise RetrievalError("k must be at least 1")
        timings: dict[str, float] = {}
        notes: list[str] = []
        pool = max(self.candidates, k)

        def timed(stage: str, fn: Callable[[], Any]) -> Any:
            start = time.perf_counter()
            value = fn()
            timings[stage] = (time.perf_counter() - start) * 1000.0
            return value

        chunks: dict[str, Chunk] = {}
        scores: dict[str, dict[str, float]] = {}
        dense_ids: list[str] = []
        bm25_ids: list[str] = []
        if mode in ("dense", "hybrid"):
            vector = timed("embed", lambda: self.embedder.embed([query], kind="query")[0])
            found = timed("dense", lambda: self.collection.query(vector, pool, where))
            for chunk, distance in found:
                if self.visible_ids is not None and chunk.id not in self.visible_ids:
                    continue
                chunks[chunk.id] = chunk
                scores.setdefault(chunk.id, {})["dense"] = 1.0 - distance
                dense_ids.append(chunk.id)
        if mode in ("bm25", "hybrid"):
            allowed = timed("filter", lambda: self.collection.ids(where)) if where else None
            found_ids = timed("bm25", lambda: self.bm25.search(query, pool, allowed))
            for cid, value in found_ids:
                scores.setdefault(cid, {})["bm25"] = value
                bm25_ids.append(cid)
            missing = [cid for cid in bm25_ids if cid not in chunks]
            if missing:
                for chunk in timed("fetch", lambda: self.collection.get(missing)):
                    chunks[chunk.id] = chunk
            bm25_ids = [cid for cid in bm25_ids if cid in chunks]  # index may lag the store

        if mode == "hybrid":
            fused = reciprocal_rank_fusion([dense_ids, bm25_ids], k=self.rrf_k)[:pool]
            for cid, value in fused:
                scores[cid]["rrf"] = value
            ranked = [(cid, value) for cid, value in fused]
            timed("complete", lambda: self._complete_scores(query, vector, [cid for cid, _ in fused], scores))
        elif mode == "dense":
            ranked = [(cid, scores[cid]["dense"]) for cid in dense_ids]
        else:
            ranked = [(cid, scores[cid]["bm25"]) for cid in bm25_ids]

        if self.reranker is not None and rerank and ranked:
            # the top `candidates` are reranked; when k is larger the rest follow in their earlier order
            head, tail = ranked[: self.candidates], ranked[self.candidates :]
            ids = [cid for cid, _ in head]
            values = timed("rerank", lambda: self.reranker.score(query, [chunks[c].text for c in ids]))  # type: ignore[union-attr]
            for cid, value in zip(ids, values, strict=True):
                scores[cid]["rerank"] = value
            reranked = sorted(zip(ids, values, strict=True), key=lambda pair: -pair[1])
            if self.rerank_weight < 1.0:
                weights = (self.rerank_weight, 1.0 - self.rerank_weight)
                reranked = reciprocal_rank_fusion([[c for c, _ in reranked], ids], k=self.rrf_k, weights=weights)
                for cid, value in reranked:
                    scores[cid]["rerank_fused"] = value
            ranked = reranked + tail
        elif self.reranker is None:
            notes.append(RERANK_OFF_NOTE)
        else:
            notes.append("reranking turned off (--no-rerank)")

        if self.mmr and ranked:
            ranked = timed("mmr", lambda: self._mmr(ranked, k, scores))
        ranked = ranked[:k]
        hits = [
            SearchHit(chunk=chunks[cid], score=float(value), scores=scores[cid], rank=i)
            for i, (cid, value) in enumerate(ranked, start=1)
        ]
        return SearchResult(query=query, mode=mode, hits=hits, notes=notes, timings_ms=timings)

    def _complete_scores(
        self, query: str, vector: list[float], ids: list[str], scores: dict[str, dict[str, float]]
    ) -> None:
        """Give every fused candidate both a dense and a BM25 score: a candidate found by one retriever only is
        scored by the other from the same query embedding (its stored vector) and the same BM25 index."""
        no_dense = [cid for cid in ids if "dense" not in scores[cid]]
        if no_dense:
            stored = self.collection.embeddings(no_dense)
            for cid in no_dense:
                if cid in stored:
                    scores[cid]["dense"] = cosine(vector, stored[cid])
        no_bm25 = [cid for cid in ids if "bm25" not in scores[cid]]
        if no_bm25:
            for cid, value in self.bm25.scores_for(query, no_bm25).items():
                scores[cid]["bm25"] = value

    def _mmr(
        self, ranked: list[tuple[str, float]], k: int, scores: dict[str, dict[str, float]]
    ) -> list[tuple[str, float]]:
        vectors = self.collection.embeddings([cid for cid, _ in ranked])
        usable = [(cid, value) for cid, value in ranked if cid in vectors]
        order = mmr_order([v for _, v in usable], [vectors[c] for c, _ in usable], k, self.mmr_lambda)
        out = []
        for index, value in order:
            cid = usable[index][0]
            scores[cid]["mmr"] = value
            out.append((cid, value))
        return out


def build_searcher(
    store: Any,
    home: Path,
    collection: str,
    *,
    embedder: Embedder | None = None,
    rerank_model: str | Path | None = None,
    rerank_backend: str = "torch",
    rerank_weight: float | None = None,
    embed_backend: str = "torch",
    **options: Any,
) -> HybridSearcher:
    """A searcher over `collection` in an open `Store`: the default embedder unless one is given (the
    collection's own model when it was ingested with a path or hub name), a reranker when `rerank_model`
    (ONNX exports are cached under `home/onnx`), fused with the hybrid order at `rerank_weight` (default:
    the model's own, see `default_rerank_weight`)."""
    from retrieval.embedder import build_embedder
    from retrieval.onnx_export import check_backend
    from retrieval.reranker import build_reranker, default_rerank_weight

    check_backend(rerank_backend)  # a typo fails before the collection is opened
    check_backend(embed_backend)
    coll = store.get_collection(collection)
    if embedder is None:
        embedder = build_embedder(_base_name(coll.embedder), embed_backend, cache_dir=home / "onnx")
    reranker = build_reranker(rerank_model, rerank_backend, cache_dir=home / "onnx") if rerank_model else None
    options["rerank_weight"] = default_rerank_weight(rerank_model) if rerank_weight is None else rerank_weight
    visible = current_chunk_ids(store, collection)
    return HybridSearcher(coll, embedder, home=home, reranker=reranker, visible_ids=visible, **options)
