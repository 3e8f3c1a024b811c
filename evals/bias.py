"""The judge's biases as numbers, on the calibration set.

- Position: for a question with a good answer and a wrong one, the pairwise judge sees (good, wrong) and
  (wrong, good). A verdict is consistent when it picks the same answer in both orders; the flip rate is the
  share of inconsistent pairs (the judge followed the position); accuracy counts consistent, right picks.
- Verbosity: each good answer padded with sentences that add no claim about the question. Reported: the
  pass rate of correctness and faithfulness before and after padding (paired), the share of consistent pairwise
  verdicts preferring the padded answer, and the correlation of answer length with the judge's verdicts
  beside the same correlation for the human labels (a judge that likes length shows a larger one).
- Self-consistency: each item judged `repeats` times at temperature > 0; the share of items whose verdicts
  all agree, per criterion.
Self-preference (a judge rating its own model's answers) needs generated answers: the suite run reports it
(`summary.self_preference`) when two configurations share answers and differ by judge model.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agent.chat_client import ChatModel
from evals.calibration import CalibrationItem
from evals.judge import judge_all, judge_pair
from evals.stats import _clean

PADDING = (
    " To put this in context, the sources above describe the topic in more detail, and the explanation given "
    "here follows them closely. Readers who want to go further can consult the same sources, which discuss "
    "the surrounding ideas, the usual settings and the reasons behind them at greater length."
)


def question_pairs(items: Sequence[CalibrationItem]) -> list[tuple[CalibrationItem, CalibrationItem]]:
    """(good, wrong) answers to the same question and contexts: all criteria pass vs correctness fails."""
    by_question: dict[tuple[str, str], list[CalibrationItem]] = {}
    for item in items:
        by_question.setdefault((item.question, " ".join(c.text for c in item.contexts)), []).append(item)
    pairs = []
    for group in by_question.values():
        good = [i for i in group if all(i.labels.values())]
        wrong = [i for i in group if not i.labels.get("correctness", True) and i.kind == "fluent_wrong"]
        if good and wrong:
            pairs.append((good[0], wrong[0]))
    return pairs


def position_bias(judge: ChatModel, items: Sequence[CalibrationItem], limit: int | None = None) -> dict[str, Any]:
    pairs = question_pairs(items)[:limit]
    consistent = right = flips = unusable = 0
    first_chosen = 0
    for good, wrong in pairs:
        ab = judge_pair(judge, good.question, good.contexts, good.answer, wrong.answer)
        ba = judge_pair(judge, good.question, good.contexts, wrong.answer, good.answer)
        if ab is None or ba is None:
            unusable += 1
            continue
        first_chosen += (ab == "A") + (ba == "A")
        picks_good = (ab == "A", ba == "B")
        if picks_good[0] == picks_good[1]:
            consistent += 1
            right += picks_good[0]
        else:
            flips += 1
    usable = len(pairs) - unusable
    return {
        "pairs": len(pairs),
        "unmeasured": unusable,
        "flip_rate": _clean(flips / usable) if usable else None,
        "consistent": consistent,
        "consistent_right_rate": _clean(right / consistent) if consistent else None,
        "first_position_rate": _clean(first_chosen / (2 * usable)) if usable else None,
    }


def verbosity_bias(judge: ChatModel, items: Sequence[CalibrationItem], limit: int | None = None) -> dict[str, Any]:
    good = [i for i in items if all(i.labels.values()) and i.kind == "good"][:limit]
    before: dict[str, list[bool]] = {"correctness": [], "faithfulness": []}
    after: dict[str, list[bool]] = {"correctness": [], "faithfulness": []}
    prefer_padded = consistent = unusable = 0
    for item in good:
        padded = replace(item, answer=item.answer + PADDING)
        plain_v = judge_all(judge, item.question, item.answer, item.contexts, item.reference, tuple(before))
        padded_v = judge_all(judge, padded.question, padded.answer, padded.contexts, padded.reference, tuple(before))
        for criterion in before:
            a, b = plain_v[criterion].passed, padded_v[criterion].passed
            if a is not None and b is not None:
                before[criterion].append(a)
                after[criterion].append(b)
        ab = judge_pair(judge, item.question, item.contexts, padded.answer, item.answer)
        ba = judge_pair(judge, item.question, item.contexts, item.answer, padded.answer)
        if ab is None or ba is None:
            unusable += 1
        elif (ab == "A") == (ba == "B"):
            consistent += 1
            prefer_padded += ab == "A"
    return {
        "items": len(good),
        "pass_rate": {
            c: {
                "original": _clean(sum(before[c]) / len(before[c])) if before[c] else None,
                "padded": _clean(sum(after[c]) / len(after[c])) if after[c] else None,
                "n": len(before[c]),
            }
            for c in before
        },
        "pairwise_consistent": consistent,
        "pairwise_prefers_padded_rate": _clean(prefer_padded / consistent) if consistent else None,
        "pairwise_unmeasured": unusable,
    }


def length_correlation(items: Sequence[CalibrationItem], verdicts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pearson correlation of answer length (words) with the judge's verdicts and with the human labels."""
    out: dict[str, Any] = {}
    for criterion in ("faithfulness", "relevance", "correctness"):
        lengths, judged, human = [], [], []
        for item in items:
            outcome = verdicts.get(item.id, {}).get(criterion)
            if outcome is None or outcome.passed is None:
                continue
            lengths.append(float(len(item.answer.split())))
            judged.append(float(outcome.passed))
            human.append(float(item.labels[criterion]))
        out[criterion] = {"judge": _corr(lengths, judged), "human": _corr(lengths, human), "n": len(lengths)}
    return out


def _corr(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or statistics.pstdev(x) == 0 or statistics.pstdev(y) == 0:
        return None
    return _clean(statistics.correlation(x, y))


def self_consistency(
    judge: ChatModel,
    items: Sequence[CalibrationItem],
    *,
    repeats: int = 3,
    temperature: float = 0.7,
    limit: int | None = None,
) -> dict[str, Any]:
    chosen = list(items)[:limit]
    runs = [
        {
            item.id: judge_all(
                judge, item.question, item.answer, item.contexts, item.reference, temperature=temperature
            )
            for item in chosen
        }
        for _ in range(repeats)
    ]
    out: dict[str, Any] = {"items": len(chosen), "repeats": repeats, "temperature": temperature}
    for criterion in ("faithfulness", "relevance", "correctness"):
        agree = measured = 0
        for item in chosen:
            verdicts = [run[item.id][criterion].passed for run in runs]
            if any(v is None for v in verdicts):
                continue
            measured += 1
            agree += len(set(verdicts)) == 1
        out[criterion] = {"all_agree_rate": _clean(agree / measured) if measured else None, "measured": measured}
    return out


def bias_markdown(bias: dict[str, Any]) -> list[str]:
    lines = ["## Judge biases", ""]
    for model, probes in bias.items():
        lines.append(f"### {model}")
        pos = probes.get("position")
        if pos:
            lines.append(
                f"- Position: {pos['pairs']} good/wrong pairs judged in both orders; flip rate {_f(pos['flip_rate'])}, "
                f"first position chosen {_f(pos['first_position_rate'])}, right among consistent "
                f"{_f(pos['consistent_right_rate'])} ({pos['consistent']} consistent, {pos['unmeasured']} unmeasured)."
            )
        verb = probes.get("verbosity")
        if verb:
            rates = "; ".join(
                f"{c} {_f(v['original'])} → {_f(v['padded'])} (n={v['n']})" for c, v in verb["pass_rate"].items()
            )
            lines.append(
                f"- Verbosity (padded-answer probe, {verb['items']} good answers): pass rate {rates}; consistent "
                f"pairwise verdicts preferring the padded answer {_f(verb['pairwise_prefers_padded_rate'])} "
                f"of {verb['pairwise_consistent']}."
            )
        length = probes.get("length")
        if length:
            corr = "; ".join(f"{c} judge {_f(v['judge'])} vs human {_f(v['human'])}" for c, v in length.items())
            lines.append(f"- Length vs verdict (Pearson, calibration items): {corr}.")
        cons = probes.get("self_consistency")
        if cons:
            rates = ", ".join(
                f"{c} {_f(cons[c]['all_agree_rate'])}" for c in ("faithfulness", "relevance", "correctness")
            )
            lines.append(
                f"- Self-consistency ({cons['items']} items × {cons['repeats']} at temperature {cons['temperature']}): "
                f"all verdicts agree {rates}."
            )
        lines.append("")
    return lines


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
