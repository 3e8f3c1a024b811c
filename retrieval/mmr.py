"""Maximal marginal relevance: reorder hits so near-identical chunks do not crowd the top.

Greedy: each step picks the candidate maximizing `lam * relevance - (1 - lam) * max cosine similarity to
the ones already picked`, where relevance is the candidate's score min-max normalized to [0, 1].
With `lam = 1` the order is unchanged; lower values push duplicates down.
"""

from __future__ import annotations

from collections.abc import Sequence

MMR_LAMBDA = 0.7


def mmr_order(
    relevance: Sequence[float], vectors: Sequence[Sequence[float]], k: int, lam: float = MMR_LAMBDA
) -> list[tuple[int, float]]:
    """(index into the inputs, MMR value) for the `k` picks, in pick order. Vectors must be normalized."""
    import numpy as np

    if len(relevance) != len(vectors):
        raise ValueError(f"{len(relevance)} scores but {len(vectors)} vectors")
    if not 0.0 <= lam <= 1.0:
        raise ValueError("lam must be in [0, 1]")
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    span = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    mat = np.asarray(vectors, dtype=np.float64)
    sims = mat @ mat.T
    picked: list[tuple[int, float]] = []
    max_sim = np.full(n, -np.inf)
    remaining = list(range(n))
    while remaining and len(picked) < k:
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        values = lam * rel - (1.0 - lam) * penalty
        best = max(remaining, key=lambda i: (values[i], -i))
        picked.append((best, float(values[best])))
        remaining.remove(best)
        max_sim = np.maximum(max_sim, sims[best])
    return picked
