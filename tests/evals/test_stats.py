"""Kappa and the bootstrap against maintained implementations (scikit-learn, SciPy); PPI and paired deltas by hand."""

from __future__ import annotations

import math
import random

import pytest

from evals.stats import bootstrap_mean, cohen_kappa, confusion, kappa_interval, paired_bootstrap, ppi_mean


def test_kappa_matches_scikit_learn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(5)
    for _ in range(20):
        n = rng.randint(5, 60)
        a = [rng.randint(0, 1) for _ in range(n)]
        b = [x if rng.random() < 0.7 else 1 - x for x in a]
        if len(set(a)) == 1 and len(set(b)) == 1:
            continue
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None  # undefined (chance agreement 1), never NaN


def test_kappa_hand_computed() -> None:
    # 10 items: both 1 on 4, both 0 on 3, a=1 b=0 on 2, a=0 b=1 on 1. po = 0.7; pa1 = 0.6, pb1 = 0.5
    # pe = 0.6*0.5 + 0.4*0.5 = 0.5 -> kappa = 0.2 / 0.5 = 0.4
    a = [1] * 4 + [0] * 3 + [1] * 2 + [0]
    b = [1] * 4 + [0] * 3 + [0] * 2 + [1]
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    interval = kappa_interval(a, b, seed=1)
    assert interval.low is not None and interval.high is not None
    assert interval.low <= 0.4 <= interval.high
    assert confusion([bool(x) for x in a], [bool(x) for x in b]) == {"tp": 4, "tn": 3, "fp": 1, "fn": 2}


def test_bootstrap_interval_matches_scipy_percentile_bootstrap() -> None:
    import numpy as np
    from scipy.stats import bootstrap

    rng = random.Random(3)
    values = [float(rng.random() < 0.6) for _ in range(80)]
    ours = bootstrap_mean(values, seed=11, samples=20000)
    theirs = bootstrap(
        (np.array(values),), np.mean, n_resamples=20000, method="percentile", random_state=np.random.default_rng(11)
    ).confidence_interval
    assert ours.estimate == pytest.approx(sum(values) / len(values))
    assert ours.low == pytest.approx(theirs.low, abs=0.015)
    assert ours.high == pytest.approx(theirs.high, abs=0.015)
    assert bootstrap_mean(values, seed=11).low == bootstrap_mean(values, seed=11).low  # seeded: reproducible
    assert bootstrap_mean([], seed=1).estimate is None


def test_paired_bootstrap() -> None:
    a = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0] * 5
    b = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0] * 5
    delta = paired_bootstrap(a, b, seed=0)
    assert delta.delta == pytest.approx(3 / 8)
    assert delta.significant and delta.low is not None and delta.low > 0
    same = paired_bootstrap(a, a, seed=0)
    assert same.delta == 0 and not same.significant and same.p_value == 1.0


def test_ppi_mean_hand_computed() -> None:
    # judge says 0.8 on 10 items; on 4 labelled ones judge [1,1,1,0] vs human [1,0,1,0]: bias 0.25
    judge_all = [1.0] * 8 + [0.0] * 2
    interval = ppi_mean(judge_all, [1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0])
    assert interval.estimate == pytest.approx(0.8 - 0.25)
    var_all = sum((x - 0.8) ** 2 for x in judge_all) / 9
    rect = [0.0, 1.0, 0.0, 0.0]
    var_rect = sum((x - 0.25) ** 2 for x in rect) / 3
    half = 1.959963984540054 * math.sqrt(var_all / 10 + var_rect / 4)
    assert interval.low == pytest.approx(0.55 - half) and interval.high == pytest.approx(0.55 + half)
