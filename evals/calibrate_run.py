"""`ragloop eval calibrate`: judge the calibration set with each judge model (cached per item, so a rerun
resumes), then kappa per criterion and the bias probes; writes calibration.json and calibration.md."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.cache import RunCache
from evals.calibration import CalibrationItem, agreement_rows, calibration_markdown, judge_items
from evals.dataset import Item

if TYPE_CHECKING:
    from agent.settings import Settings


def _key(item: CalibrationItem) -> Item:
    return Item(id=item.id, question=item.question, reference=item.answer)


def run_calibration(
    settings: Settings,
    items: Sequence[CalibrationItem],
    models: Sequence[str],
    out: Path,
    *,
    bias: bool = True,
    bias_limit: int = 8,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    from tqdm import tqdm

    from evals.bias import length_correlation, position_bias, self_consistency, verbosity_bias
    from evals.compose import for_judge, open_judge

    out.mkdir(parents=True, exist_ok=True)
    cache = RunCache(out / "cache")
    rows: list[dict[str, Any]] = []
    biases: dict[str, Any] = {}
    for model in models:
        kind = f"calibration-{''.join(ch if ch.isalnum() or ch in '.-' else '_' for ch in model)}"
        with open_judge(for_judge(settings, settings.retrieval.collection, model)) as judge:
            verdicts = judge_items(
                judge,
                items,
                cached=lambda item, kind=kind: cache.get(kind, "t0", _key(item), 0),  # type: ignore[misc]
                store=lambda item, data, kind=kind: cache.put(kind, "t0", _key(item), 0, data),  # type: ignore[misc]
                progress=lambda xs, m=model: tqdm(xs, desc=f"calibrate {m}", unit="item", file=sys.stderr),  # type: ignore[misc]
            )
            rows += agreement_rows(items, verdicts, model, seed=seed)
            if bias:
                print(f"bias probes for {model}…", file=sys.stderr, flush=True)
                biases[model] = {
                    "length": length_correlation(items, verdicts),
                    "position": position_bias(judge, items, bias_limit),
                    "verbosity": verbosity_bias(judge, items, bias_limit),
                    "self_consistency": self_consistency(judge, items, repeats=repeats, limit=bias_limit),
                }
    result = {"items": len(items), "models": list(models), "rows": rows, "bias": biases, "seed": seed}
    (out / "calibration.json").write_text(json.dumps(result, indent=2, allow_nan=False), encoding="utf-8")
    (out / "calibration.md").write_text(calibration_markdown(result), encoding="utf-8")
    return result
