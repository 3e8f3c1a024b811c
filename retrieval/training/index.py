"""BM25 and bi-encoder rankings over a list of passages (in memory), for filtering questions, mining
hard negatives and the dev evaluation. Positions index the passage list given to `PassageIndex.build`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.bm25 import BM25Index
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.training.corpus import Passage
from retrieval.types import Embedder

EMBED_BATCH = 64
Progress = Callable[[int, int], None]  # (passages embedded, passages in all)


@dataclass
class Ranks:
    """1-based ranks of one passage for one query (None: not among the passages BM25 scores above 0)."""

    bm25: int | None
    dense: int

    def best(self) -> int:
        return min(self.dense, self.bm25) if self.bm25 is not None else self.dense


class PassageIndex:
    def __init__(self, passages: Sequence[Passage], bm25: BM25Index, vectors: Any, embedder: Embedder) -> None:
        self.passages = list(passages)
        self.bm25 = bm25
        self.vectors = vectors  # (n, dim) float32, normalized
        self.embedder = embedder
        self.position = {p.id: i for i, p in enumerate(self.passages)}

    @classmethod
    def build(cls, passages: Sequence[Passage], embedder: Embedder, progress: Progress | None = None) -> PassageIndex:
        import numpy as np

        texts = [p.text for p in passages]
        bm25 = BM25Index.build([p.id for p in passages], texts)
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(np.asarray(embedder.embed(texts[start : start + EMBED_BATCH], kind="document"), np.float32))
            if progress:
                progress(min(start + EMBED_BATCH, len(texts)), len(texts))
        dim = embedder.dimension if not parts else parts[0].shape[1]
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        return cls(passages, bm25, vectors, embedder)

    def __len__(self) -> int:
        return len(self.passages)

    def embed_queries(self, queries: Sequence[str]) -> Any:
        import numpy as np

        if not queries:
            return np.zeros((0, self.vectors.shape[1]), np.float32)
        return np.asarray(self.embedder.embed(list(queries), kind="query"), np.float32)

    def dense_scores(self, query_vector: Any) -> Any:
        return self.vectors @ query_vector

    def dense_top(self, query_vector: Any, k: int) -> list[int]:
        import numpy as np

        scores = self.dense_scores(query_vector)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        return sorted(top.tolist(), key=lambda i: (-float(scores[i]), i))

    def bm25_top(self, query: str, k: int) -> list[int]:
        return [self.position[pid] for pid, _ in self.bm25.search(query, k)]

    def ranks(self, query: str, query_vector: Any, target: int, bm25_depth: int = 1000) -> Ranks:
        """Where passage `target` ranks for the query under BM25 (within `bm25_depth`) and the bi-encoder."""
        scores = self.dense_scores(query_vector)
        dense = int((scores > scores[target]).sum()) + 1
        bm25_ranking = self.bm25_top(query, bm25_depth)
        bm25 = bm25_ranking.index(target) + 1 if target in bm25_ranking else None
        return Ranks(bm25=bm25, dense=dense)

    def hybrid_top(self, query: str, query_vector: Any, k: int, depth: int = 100) -> list[int]:
        """Reciprocal rank fusion of the BM25 and bi-encoder top `depth`, cut to `k` (as `ragloop search`)."""
        rankings = [
            [str(i) for i in self.bm25_top(query, depth)],
            [str(i) for i in self.dense_top(query_vector, depth)],
        ]
        return [int(i) for i, _ in reciprocal_rank_fusion(rankings)[:k]]
