"""Retrieval metrics against hand-computed values, and cross-checked against ranx."""

from __future__ import annotations

import math
import random

import pytest

from retrieval.metrics import evaluate, mrr_at_k, ndcg_at_k, parse_metric, per_query, recall_at_k

QREL = {"a": 2, "b": 1, "c": 0, "d": 1}
RANKING = ["x", "a", "b", "y", "d"]


def test_ndcg_hand_computed() -> None:
    # DCG@3: x=0, a=(2^2-1)/log2(3), b=(2^1-1)/log2(4); ideal grades [2, 1, 1]
    dcg3 = 3 / math.log2(3) + 1 / 2
    idcg3 = 3 / 1 + 1 / math.log2(3) + 1 / 2
    assert ndcg_at_k(RANKING, QREL, 3) == pytest.approx(dcg3 / idcg3)
    assert ndcg_at_k(RANKING, QREL, 3) == pytest.approx(0.5792, abs=1e-4)
    dcg5 = dcg3 + 1 / math.log2(6)
    assert ndcg_at_k(RANKING, QREL, 5) == pytest.approx(dcg5 / idcg3)  # ideal has only 3 relevant docs
    assert ndcg_at_k(["a", "b", "d"], QREL, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "d", "b"], QREL, 10) == pytest.approx(1.0)  # ties in grade: any order is ideal
    assert ndcg_at_k(["c", "x"], QREL, 2) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 1) == 0.0  # no relevant document


def test_recall_and_mrr_hand_computed() -> None:
    assert recall_at_k(RANKING, QREL, 1) == 0.0
    assert recall_at_k(RANKING, QREL, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, QREL, 5) == pytest.approx(1.0)
    assert mrr_at_k(RANKING, QREL, 3) == pytest.approx(0.5)
    assert mrr_at_k(RANKING, QREL, 1) == 0.0
    assert mrr_at_k(["c", "y", "z", "d"], QREL, 10) == pytest.approx(0.25)  # grade 0 is not relevant


def test_duplicates_count_once() -> None:
    assert recall_at_k(["a", "a", "a"], QREL, 3) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "a"], QREL, 2) == 1.0
    assert ndcg_at_k(["a", "a", "b"], QREL, 2) == pytest.approx(ndcg_at_k(["a", "b"], QREL, 2))


def test_evaluate_means_over_judged_queries() -> None:
    qrels = {"q1": QREL, "q2": {"z": 1}, "q3": {"n": 0}}  # q3 has nothing relevant: left out
    run = {"q1": RANKING}  # q2 missing from the run: scores 0
    result = evaluate(run, qrels, ["recall@5", "mrr@3"])
    assert result == {"recall@5": pytest.approx(0.5), "mrr@3": pytest.approx(0.25)}
    assert set(per_query(run, qrels, ["ndcg@10"])["ndcg@10"]) == {"q1", "q2"}
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric("map@10")


@pytest.mark.slow  # ranx compiles its metrics with numba on first use (about a minute on 2 cores)
@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaTypeSafetyWarning")
def test_cross_check_against_ranx() -> None:
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[str]] = {}
    for q in range(25):
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[f"q{q}"] = {doc: rng.choice([1, 1, 2, 3]) for doc in judged}
        run[f"q{q}"] = rng.sample(docs, rng.randint(5, 30))
    ranx_run = Run({q: {doc: float(len(r) - i) for i, doc in enumerate(r)} for q, r in run.items()})
    ours = evaluate(run, qrels, ["ndcg@10", "ndcg@5", "recall@5", "recall@10", "recall@100", "mrr@10"])
    theirs = ranx_evaluate(
        Qrels(qrels),
        ranx_run,
        ["ndcg_burges@10", "ndcg_burges@5", "recall@5", "recall@10", "recall@100", "mrr@10"],
    )
    for name in ("recall@5", "recall@10", "recall@100", "mrr@10"):
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg_burges@10"], abs=1e-9)
    assert ours["ndcg@5"] == pytest.approx(theirs["ndcg_burges@5"], abs=1e-9)
