"""Judge calibration against the project's human-labelled set (evals/data/calibration/items.jsonl).

Each item holds a question, the contexts, a reference, an answer and a label per criterion, decided by reading
the item; hard cases are marked by `kind` (partly_supported, correct_uncited, fluent_wrong, padded, ...).
Per judge model and criterion: Cohen's kappa with a bootstrap 95% interval, raw agreement, the confusion
counts (human label as truth) and how many verdicts were unmeasured (excluded from kappa, reported).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.chat_client import ChatModel
from agent.judge import CitedSource
from evals.dataset import DATA_DIR
from evals.errors import EvalError
from evals.judge import CRITERIA, JudgeOutcome, judge_all
from evals.stats import _clean, confusion, kappa_interval

CALIBRATION_ITEMS = DATA_DIR / "calibration" / "items.jsonl"


@dataclass
class CalibrationItem:
    id: str
    question: str
    contexts: list[CitedSource]
    reference: str
    answer: str
    kind: str
    labels: dict[str, bool] = field(default_factory=dict)


def load_calibration(path: Path = CALIBRATION_ITEMS) -> list[CalibrationItem]:
    if not path.is_file():
        raise EvalError(f"Calibration set {path} not found.")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            contexts = [CitedSource(int(c["n"]), str(c.get("title", "")), "", str(c["text"])) for c in raw["contexts"]]
            labels = {k: bool(v) for k, v in raw["labels"].items()}
            items.append(
                CalibrationItem(
                    str(raw["id"]), raw["question"], contexts, raw["reference"], raw["answer"], raw["kind"], labels
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise EvalError(f"{path}:{number}: not a calibration item ({exc}).") from exc
    return items


def judge_items(
    judge: ChatModel,
    items: Sequence[CalibrationItem],
    *,
    criteria: Sequence[str] = CRITERIA,
    temperature: float = 0.0,
    cached: Callable[[CalibrationItem], dict[str, Any] | None] | None = None,
    store: Callable[[CalibrationItem, dict[str, Any]], None] | None = None,
    progress: Callable[[Sequence[CalibrationItem]], Any] | None = None,
) -> dict[str, dict[str, JudgeOutcome]]:
    """item id -> criterion -> the judge's outcome (cached outcomes reused, new ones stored)."""
    out: dict[str, dict[str, JudgeOutcome]] = {}
    iterable = progress(items) if progress else items
    for item in iterable:
        hit = cached(item) if cached else None
        if hit is not None:
            out[item.id] = {c: JudgeOutcome(**o) for c, o in hit.items()}
            continue
        outcomes = judge_all(
            judge, item.question, item.answer, item.contexts, item.reference, criteria, temperature=temperature
        )
        out[item.id] = outcomes
        if store:
            store(item, {c: o.to_dict() for c, o in outcomes.items()})
    return out


def agreement_rows(
    items: Sequence[CalibrationItem], verdicts: dict[str, dict[str, JudgeOutcome]], judge_model: str, *, seed: int
) -> list[dict[str, Any]]:
    rows = []
    for criterion in CRITERIA:
        human: list[bool] = []
        judged: list[bool] = []
        unmeasured = 0
        hard: dict[str, list[bool]] = {}
        for item in items:
            outcome = verdicts.get(item.id, {}).get(criterion)
            if outcome is None or criterion not in item.labels:
                continue
            if outcome.passed is None:
                unmeasured += 1
                continue
            human.append(item.labels[criterion])
            judged.append(outcome.passed)
            hard.setdefault(item.kind, []).append(outcome.passed == item.labels[criterion])
        if not human and not unmeasured:
            continue
        kappa = kappa_interval([int(h) for h in human], [int(j) for j in judged], seed=seed)
        agree = sum(h == j for h, j in zip(human, judged, strict=True)) / len(human) if human else None
        rows.append(
            {
                "judge_model": judge_model,
                "criterion": criterion,
                "n": len(human),
                "unmeasured": unmeasured,
                "unmeasured_rate": round(unmeasured / (len(human) + unmeasured), 4),
                "kappa": kappa.to_dict(),
                "agreement": _clean(agree),
                "confusion": confusion(human, judged),
                "agreement_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(hard.items())},
            }
        )
    return rows


def calibration_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Judge calibration",
        "",
        f"{result['items']} human-labelled items (evals/data/calibration/items.jsonl). Kappa: Cohen's, with a "
        "bootstrap 95% interval; confusion counts take the human label as truth (tp: both pass).",
        "",
        "| judge | criterion | n | kappa [95% CI] | agreement | tp | tn | fp | fn | unmeasured |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        k, c = row["kappa"], row["confusion"]
        kappa = "–" if k["estimate"] is None else f"{k['estimate']:.2f}"
        if k["low"] is not None:
            kappa += f" [{k['low']:.2f}, {k['high']:.2f}]"
        agree = "–" if row["agreement"] is None else f"{row['agreement']:.2f}"
        lines.append(
            f"| {row['judge_model']} | {row['criterion']} | {row['n']} | {kappa} | {agree} | {c['tp']} | {c['tn']} "
            f"| {c['fp']} | {c['fn']} | {row['unmeasured']} |"
        )
    lines += ["", "Agreement with the human label by kind of item:", ""]
    for row in result["rows"]:
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in row["agreement_by_kind"].items())
        lines.append(f"- {row['judge_model']} · {row['criterion']}: {kinds}")
    bias = result.get("bias") or {}
    if bias:
        from evals.bias import bias_markdown

        lines += ["", *bias_markdown(bias)]
    return "\n".join(lines) + "\n"
