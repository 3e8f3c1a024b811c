"""The run's summary: per configuration and metric, the mean with a bootstrap 95% interval over items, and the
unmeasured rate with its reasons. Repeats of an item are averaged first (the item is the resampling unit).

No value is ever NaN: a metric measured on no item has `mean: null`, and its unmeasured rate says why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from evals.answer_metrics import LOWER_IS_BETTER
from evals.stats import BOOTSTRAP_SAMPLES, _clean, bootstrap_mean, paired_bootstrap, percentile, ppi_mean

JUDGE_METRICS = ("faithfulness", "relevance", "correctness")
AGENT_METRICS = ("steps", "tool_calls", "retries", "skipped", "tokens", "seconds", "eval_judge_seconds")
QUALITY_ORDER = (
    "recall@k",
    "mrr@k",
    "ndcg@k",
    "exact_match",
    "token_f1",
    "rouge_l",
    "key_fact_accuracy",
    "key_fact_recall",
    "citation_precision",
    "citation_recall",
    "abstention_accuracy",
    "wrong_abstention",
    *JUDGE_METRICS,
    "key_fact_agreement",
)


def metric_names(records: list[dict[str, Any]]) -> list[str]:
    seen: set[str] = set()
    for r in records:
        seen.update(r["metrics"])
        seen.update(r["unmeasured"])
    ordered = [m for m in QUALITY_ORDER if m in seen]
    ordered += [m for m in AGENT_METRICS if m in seen]
    ordered += sorted(seen - set(ordered))
    return ordered


def per_item(records: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """item id -> the metric's mean over the repeats where it was measured."""
    values: dict[str, list[float]] = {}
    for r in records:
        if metric in r["metrics"]:
            values.setdefault(r["id"], []).append(float(r["metrics"][metric]))
    return {item: sum(v) / len(v) for item, v in values.items()}


def summarize_metric(
    records: list[dict[str, Any]], metric: str, seed: int, samples: int = BOOTSTRAP_SAMPLES
) -> dict[str, Any]:
    measured = [r for r in records if metric in r["metrics"]]
    unmeasured = [r for r in records if metric in r["unmeasured"]]
    applicable = len(measured) + len(unmeasured)
    interval = bootstrap_mean(list(per_item(records, metric).values()), seed=seed, samples=samples)
    reasons = Counter(_reason_kind(r["unmeasured"][metric]) for r in unmeasured)
    return {
        "mean": _clean(interval.estimate),
        "low": _clean(interval.low),
        "high": _clean(interval.high),
        "measured": len(measured),
        "unmeasured": len(unmeasured),
        "unmeasured_rate": round(len(unmeasured) / applicable, 4) if applicable else None,
        "unmeasured_reasons": dict(reasons.most_common(5)),
        "lower_is_better": metric in LOWER_IS_BETTER,
    }


def _reason_kind(reason: str) -> str:
    """Reasons grouped: the first clause (a parse failure's model text would make every reason unique)."""
    return reason.split(":", 1)[0].strip()


def latency(records: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [float(r["metrics"].get("seconds", 0.0)) for r in records]
    parts = {}
    for part in ("prompt", "generation", "retrieval", "judge"):
        values = [float(r["metrics"].get(f"seconds_{part}", 0.0)) for r in records]
        parts[part] = _clean(sum(values) / len(values)) if values else None
    judge = [float(r["metrics"].get("eval_judge_seconds", 0.0)) for r in records]
    parts["eval_judge"] = _clean(sum(judge) / len(judge)) if judge else None
    mean_total = sum(seconds) / len(seconds) if seconds else None
    if mean_total is not None:
        known = sum(parts[p] or 0.0 for p in ("prompt", "generation", "retrieval", "judge"))
        parts["other"] = _clean(max(mean_total - known, 0.0))
    return {
        "p50_seconds": _clean(percentile(seconds, 50)),
        "p95_seconds": _clean(percentile(seconds, 95)),
        "mean_seconds": _clean(mean_total),
        "mean_split": parts,
    }


def corrected_estimates(
    records: list[dict[str, Any]], labels: dict[str, dict[str, bool]], criteria: list[str]
) -> dict[str, Any]:
    """Prediction-powered estimates of each judge criterion on a configuration's records. `labels` is keyed by
    "CONFIG/ID" (a label of that configuration's answer) or by "ID" (any configuration's answer)."""
    out: dict[str, Any] = {}
    config = records[0]["config"] if records else ""
    for criterion in criteria:
        judged = per_item(records, criterion)
        pairs = []
        for i in judged:
            label = labels.get(f"{config}/{i}", labels.get(i, {}))
            if criterion in label:
                pairs.append((judged[i], float(label[criterion])))
        if not pairs:
            continue
        interval = ppi_mean(list(judged.values()), [j for j, _ in pairs], [h for _, h in pairs])
        out[criterion] = {**interval.to_dict(), "labelled": len(pairs), "judged": len(judged)}
    return out


def summarize_config(
    records: list[dict[str, Any]],
    seed: int,
    labels: dict[str, dict[str, bool]] | None,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, Any]:
    names = metric_names(records)
    summary: dict[str, Any] = {
        "records": len(records),
        "items": len({r["id"] for r in records}),
        "errors": sum(1 for r in records if r.get("error")),
        "metrics": {
            name: summarize_metric(records, name, seed, samples) for name in names if not name.startswith("seconds_")
        },
        "latency": latency(records),
    }
    if labels:
        summary["corrected"] = corrected_estimates(records, labels, [m for m in JUDGE_METRICS if m in names])
    return summary


def summarize_run(
    meta: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    seed: int,
    labels: dict[str, dict[str, bool]] | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, Any]:
    configs = [c["name"] for c in meta["configurations"]]
    summary = {
        **meta,
        "configs": {
            name: summarize_config([r for r in records if r["config"] == name], seed, labels, samples)
            for name in configs
        },
    }
    preference = self_preference(meta["configurations"], records, seed=seed, samples=samples)
    if preference:
        summary["self_preference"] = preference
    return summary


def self_preference(
    configurations: list[dict[str, Any]], records: list[dict[str, Any]], *, seed: int, samples: int = BOOTSTRAP_SAMPLES
) -> list[dict[str, Any]]:
    """Configurations sharing answers (same `answer_key`) where one is judged by the model that wrote the answers
    and another by a different model: per criterion, the self-judge's pass rate minus the other judge's on the
    same items, with a paired bootstrap interval (positive: the judge favours its own model's answers)."""
    out = []
    for own in configurations:
        if not own.get("answer_key") or own.get("judge_model") != own.get("chat_model"):
            continue
        for other in configurations:
            if (
                other is own
                or other.get("answer_key") != own["answer_key"]
                or other["judge_model"] == own["judge_model"]
            ):
                continue
            own_records = [r for r in records if r["config"] == own["name"]]
            other_records = [r for r in records if r["config"] == other["name"]]
            row: dict[str, Any] = {"self_judge": own["name"], "other_judge": other["name"], "criteria": {}}
            for criterion in JUDGE_METRICS:
                a, b = per_item(other_records, criterion), per_item(own_records, criterion)
                common = sorted(set(a) & set(b))
                delta = paired_bootstrap([a[i] for i in common], [b[i] for i in common], seed=seed, samples=samples)
                row["criteria"][criterion] = delta.to_dict()
            out.append(row)
    return out


def fail_under(summary: dict[str, Any], gates: dict[str, float]) -> list[str]:
    """Reasons the run fails its gates: a metric whose mean is below the threshold in any configuration, or
    that was measured on no item (an unmeasured metric never passes)."""
    reasons = []
    for name, config in summary["configs"].items():
        for metric, threshold in gates.items():
            stats = config["metrics"].get(metric)
            if stats is None or stats["mean"] is None:
                why = "not measured on any item" if stats else "not computed by this suite"
                reasons.append(f"{name}: {metric} {why} (gate {threshold})")
            elif stats.get("lower_is_better") and stats["mean"] > threshold:
                reasons.append(f"{name}: {metric} = {stats['mean']:.4f} is above {threshold} (lower is better)")
            elif not stats.get("lower_is_better") and stats["mean"] < threshold:
                reasons.append(f"{name}: {metric} = {stats['mean']:.4f} is below {threshold}")
    return reasons
