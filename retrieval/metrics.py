"""Ranking metrics for retrieval evaluation: nDCG@k, Recall@k, MRR@k.

- `qrels`: query id -> {document id: graded relevance}; grades <= 0 count as not relevant.
- a ranking: document ids, best first (duplicates after the first occurrence are ignored).
- nDCG@k: DCG = sum over ranks i=1..k of (2^rel_i - 1) / log2(i + 1), divided by the DCG of the ideal
  ranking of all judged documents (0 when the query has no relevant document).
- Recall@k: relevant documents in the top k / all relevant documents.
- MRR@k: 1 / rank of the first relevant document in the top k, else 0.
`evaluate` averages over the queries of `qrels` that have at least one relevant document (a query
missing from the run scores 0), the convention of trec_eval, ranx and BEIR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]
DEFAULT_METRICS = ("ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10")


def _dedup(ranking: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
    return out


def dcg(grades: Iterable[float]) -> float:
    return sum((2.0**g - 1.0) / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg_at_k(ranking: Sequence[str], qrel: Mapping[str, int], k: int) -> float:
    ideal = dcg(sorted((g for g in qrel.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg(max(qrel.get(doc, 0), 0) for doc in _dedup(ranking)[:k]) / ideal


def recall_at_k(ranking: Sequence[str], qrel: Mapping[str, int], k: int) -> float:
    relevant = {doc for doc, g in qrel.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedup(ranking)[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrel: Mapping[str, int], k: int) -> float:
    for rank, doc in enumerate(_dedup(ranking)[:k], start=1):
        if qrel.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_FUNCTIONS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def parse_metric(name: str) -> tuple[str, int]:
    kind, _, cut = name.lower().partition("@")
    if kind not in _FUNCTIONS or not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"unknown metric {name!r}: use ndcg@K, recall@K or mrr@K")
    return kind, int(cut)


def per_query(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, dict[str, float]]:
    """metric -> query id -> value, over the judged queries that have a relevant document."""
    parsed = {name: parse_metric(name) for name in metrics}
    judged = [q for q, rel in qrels.items() if any(g > 0 for g in rel.values())]
    return {
        name: {q: _FUNCTIONS[kind](run.get(q, []), qrels[q], cut) for q in judged}
        for name, (kind, cut) in parsed.items()
    }


def evaluate(run: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """metric -> mean over the judged queries."""
    return {
        name: (sum(values.values()) / len(values) if values else 0.0)
        for name, values in per_query(run, qrels, metrics).items()
    }
