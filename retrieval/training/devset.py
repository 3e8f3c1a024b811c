"""The dev check during training: on dev-document queries, does reranking the hybrid candidates put the
source passage higher? Candidates are the top `candidates` of BM25 + bi-encoder fused by reciprocal rank
fusion over the whole corpus, as `ragloop search` does; the metric is MRR@10 of the source passage."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from retrieval.training.index import PassageIndex
from retrieval.training.pairs import Positive
from retrieval.types import Reranker

Progress = Callable[[int, int], None]


def reciprocal_rank(ranking: Sequence[int], target: int, k: int = 10) -> float:
    for rank, item in enumerate(ranking[:k], start=1):
        if item == target:
            return 1.0 / rank
    return 0.0


def dev_metrics(
    positives: Sequence[Positive],
    index: PassageIndex,
    reranker: Reranker,
    *,
    candidates: int = 30,
    limit: int = 200,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """MRR@10 of hybrid and of hybrid + rerank, and the recall of the candidate list, over at most `limit`
    dev positives (generated questions when there are any, else the weak pairs)."""
    generated = [p for p in positives if p.kind == "generated"]
    chosen = generated or list(positives)
    if len(chosen) > limit:
        chosen = random.Random(seed).sample(chosen, limit)
    if not chosen:
        return {"queries": 0}
    vectors = index.embed_queries([p.query for p in chosen])
    hybrid_rr, rerank_rr, found = 0.0, 0.0, 0
    for done, (positive, vector) in enumerate(zip(chosen, vectors, strict=True), start=1):
        target = index.position[positive.passage_id]
        fused = index.hybrid_top(positive.query, vector, candidates)
        scores = reranker.score(positive.query, [index.passages[i].text for i in fused])
        reranked = [i for _, i in sorted(zip(scores, fused, strict=True), key=lambda pair: -pair[0])]
        hybrid_rr += reciprocal_rank(fused, target)
        rerank_rr += reciprocal_rank(reranked, target)
        found += target in fused
        if progress:
            progress(done, len(chosen))
    n = len(chosen)
    return {
        "queries": n,
        "kind": "generated" if generated else "weak",
        "hybrid_mrr@10": round(hybrid_rr / n, 4),
        "rerank_mrr@10": round(rerank_rr / n, 4),
        f"candidate_recall@{candidates}": round(found / n, 4),
    }
