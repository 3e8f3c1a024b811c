"""`ragloop eval compare RUN_A RUN_B`: per-metric deltas (B - A) with paired bootstrap 95% intervals.

Items are paired by id (repeats averaged per item); a metric's delta uses the items measured in both runs, and
the items measured in only one are counted as unpaired. A change is marked significant when its interval
excludes 0. `RUN[:CONFIG]` picks one configuration of a run; without it the configurations present in both
runs are compared by name (or the only one of each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.errors import EvalError
from evals.runner import read_records
from evals.stats import paired_bootstrap
from evals.summary import metric_names, per_item

SKIP = ("seconds_prompt", "seconds_generation", "seconds_retrieval", "seconds_judge")


def split_spec(spec: str) -> tuple[Path, str | None]:
    path = Path(spec)
    if not path.exists() and ":" in spec:
        head, _, config = spec.rpartition(":")
        return Path(head), config
    return path, None


def pairs_of(
    a_records: list[dict[str, Any]], b_records: list[dict[str, Any]], a_name: str | None, b_name: str | None
) -> list[tuple[str, str]]:
    a_configs = list(dict.fromkeys(r["config"] for r in a_records))
    b_configs = list(dict.fromkeys(r["config"] for r in b_records))
    for name, configs in ((a_name, a_configs), (b_name, b_configs)):
        if name is not None and name not in configs:
            raise EvalError(f"configuration {name!r} is not in the run (it has {', '.join(configs)}).")
    if a_name or b_name:
        return [(a_name or a_configs[0], b_name or b_configs[0])]
    common = [c for c in a_configs if c in b_configs]
    if common:
        return [(c, c) for c in common]
    if len(a_configs) == 1 and len(b_configs) == 1:
        return [(a_configs[0], b_configs[0])]
    raise EvalError("the runs share no configuration name; pick one of each as RUN:CONFIG.")


def compare_records(a: list[dict[str, Any]], b: list[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    rows = {}
    for metric in metric_names(a + b):
        if metric in SKIP:
            continue
        va, vb = per_item(a, metric), per_item(b, metric)
        common = sorted(set(va) & set(vb))
        delta = paired_bootstrap([va[i] for i in common], [vb[i] for i in common], seed=seed)
        lower_better = metric == "wrong_abstention" or metric in (
            "steps",
            "tool_calls",
            "retries",
            "skipped",
            "tokens",
            "seconds",
            "eval_judge_seconds",
        )
        rows[metric] = {
            **delta.to_dict(),
            "a_mean": round(sum(va[i] for i in common) / len(common), 6) if common else None,
            "b_mean": round(sum(vb[i] for i in common) / len(common), 6) if common else None,
            "unpaired": len(set(va) ^ set(vb)),
            "lower_is_better": lower_better,
        }
    return rows


def compare_runs(spec_a: str, spec_b: str, *, seed: int = 0) -> dict[str, Any]:
    path_a, name_a = split_spec(spec_a)
    path_b, name_b = split_spec(spec_b)
    records_a, records_b = read_records(path_a), read_records(path_b)
    comparisons = []
    for ca, cb in pairs_of(records_a, records_b, name_a, name_b):
        metrics = compare_records(
            [r for r in records_a if r["config"] == ca], [r for r in records_b if r["config"] == cb], seed=seed
        )
        comparisons.append({"a": f"{path_a}:{ca}", "b": f"{path_b}:{cb}", "metrics": metrics})
    return {"comparisons": comparisons}


def table(result: dict[str, Any]) -> str:
    lines = []
    for comparison in result["comparisons"]:
        lines.append(f"A = {comparison['a']}\nB = {comparison['b']}")
        header = f"{'metric':<22} {'n':>4} {'A':>8} {'B':>8} {'B - A':>8}  {'95% CI':<20} {'':<3}"
        lines += [header, "-" * len(header)]
        for metric, row in comparison["metrics"].items():
            if row["delta"] is None:
                lines.append(f"{metric:<22} {row['n']:>4} {'–':>8} {'–':>8} {'–':>8}  (no item measured in both)")
                continue
            mark = ""
            if row["significant"]:
                better = (row["delta"] < 0) if row["lower_is_better"] else (row["delta"] > 0)
                mark = "* better" if better else "* worse"
            ci = f"[{row['low']:+.3f}, {row['high']:+.3f}]"
            means = f"{row['a_mean']:>8.3f} {row['b_mean']:>8.3f} {row['delta']:>+8.3f}"
            lines.append(f"{metric:<22} {row['n']:>4} {means}  {ci:<20} {mark}")
        lines.append("* significant: the paired bootstrap 95% interval of B - A excludes 0.")
    return "\n".join(lines)
