"""Statistics of the harness: bootstrap intervals, paired bootstrap deltas, Cohen's kappa, prediction-powered means.

All functions are seeded (the suite's seed) and return None, never NaN, where a value does not exist
(no data, a constant rater making kappa undefined).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_SAMPLES = 2000
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"estimate": _clean(self.estimate), "low": _clean(self.low), "high": _clean(self.high)}


def _clean(value: float | None) -> float | None:
    """JSON-safe: None for a missing or non-finite value, rounded to 6 places otherwise."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_mean(values: Sequence[float], *, seed: int, samples: int = BOOTSTRAP_SAMPLES) -> Interval:
    """The mean and its percentile-bootstrap 95% interval."""
    import numpy as np

    if not values:
        return Interval(None, None, None)
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(samples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(data.mean()), float(low), float(high))


@dataclass(frozen=True)
class PairedDelta:
    n: int
    delta: float | None  # mean(b - a)
    low: float | None
    high: float | None
    p_value: float | None  # two-sided bootstrap p-value of "no difference"

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "n": self.n,
            "delta": _clean(self.delta),
            "low": _clean(self.low),
            "high": _clean(self.high),
            "p_value": _clean(self.p_value),
            "significant": self.significant,
        }


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, seed: int, samples: int = BOOTSTRAP_SAMPLES
) -> PairedDelta:
    """Mean of b - a over paired observations, its 95% bootstrap interval and a two-sided p-value."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError("paired_bootstrap needs paired observations of equal length")
    if not a:
        return PairedDelta(0, None, None, None, None)
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    p = 1.0 if np.all(diff == 0) else min(1.0, 2 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
    return PairedDelta(len(diff), float(diff.mean()), float(low), float(high), p)


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters' labels (any hashable labels); None when undefined (chance agreement 1)."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two label lists of equal length")
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b))
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum((a.count(label) / n) * (b.count(label) / n) for label in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def kappa_interval(a: Sequence[int], b: Sequence[int], *, seed: int, samples: int = BOOTSTRAP_SAMPLES) -> Interval:
    """Kappa and its percentile-bootstrap 95% interval over items (resamples where kappa is undefined dropped)."""
    import numpy as np

    estimate = cohen_kappa(a, b)
    if not a:
        return Interval(None, None, None)
    rng = np.random.default_rng(seed)
    xs, ys = list(a), list(b)
    values = []
    for index in rng.integers(0, len(xs), size=(samples, len(xs))):
        k = cohen_kappa([xs[i] for i in index], [ys[i] for i in index])
        if k is not None:
            values.append(k)
    if not values:
        return Interval(estimate, None, None)
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(estimate, float(low), float(high))


def confusion(human: Sequence[bool], judge: Sequence[bool]) -> dict[str, int]:
    """Counts with the human label as truth: tp (both pass), tn (both fail), fp (judge pass, human fail), fn."""
    pairs = list(zip(human, judge, strict=True))
    return {
        "tp": sum(h and j for h, j in pairs),
        "tn": sum((not h) and (not j) for h, j in pairs),
        "fp": sum((not h) and j for h, j in pairs),
        "fn": sum(h and (not j) for h, j in pairs),
    }


def ppi_mean(judge_all: Sequence[float], judge_labelled: Sequence[float], human_labelled: Sequence[float]) -> Interval:
    """Prediction-powered estimate of the human-scale mean: the judge's mean on all items minus the judge's
    bias measured on the labelled ones (mean of judge - human), with a normal 95% interval."""
    if not judge_all or not judge_labelled or len(judge_labelled) != len(human_labelled):
        return Interval(None, None, None)
    n_all, n_lab = len(judge_all), len(judge_labelled)
    rectifier = [j - h for j, h in zip(judge_labelled, human_labelled, strict=True)]
    m_all = sum(judge_all) / n_all
    m_rect = sum(rectifier) / n_lab
    estimate = m_all - m_rect
    var_all = _variance(judge_all)
    var_rect = _variance(rectifier)
    half = Z95 * math.sqrt(var_all / n_all + var_rect / n_lab)
    return Interval(estimate, estimate - half, estimate + half)


def _variance(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
