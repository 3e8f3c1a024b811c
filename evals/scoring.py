"""Per-item records: inputs, contexts, outputs, verdicts with rationales, timings, and every metric.

A record's `metrics` holds the measured values (numbers in [0, 1] or counts/seconds), `unmeasured` the
metrics that could not be measured for this item with the reason. A metric is in exactly one of the two.
"""

from __future__ import annotations

from typing import Any

from agent.prompts import FAILED_ANSWER
from evals.answer_metrics import NOT_APPLICABLE, Unmeasured, answer_metrics
from evals.dataset import Item
from evals.suite import Configuration
from retrieval.metrics import mrr_at_k, ndcg_at_k, recall_at_k

TIME_PARTS = ("prompt", "generation", "retrieval", "judge")


def retrieval_metrics(ranking: list[str], item: Item, k: int) -> dict[str, float | Unmeasured]:
    if not item.answerable or not item.gold_sources:
        reason = "unanswerable item" if not item.answerable else "no gold sources"
        return {name: Unmeasured(reason) for name in ("recall@k", "mrr@k", "ndcg@k")}
    qrel = {gold: 1 for gold in item.gold_sources}
    return {
        "recall@k": recall_at_k(ranking, qrel, k),
        "mrr@k": mrr_at_k(ranking, qrel, k),
        "ndcg@k": ndcg_at_k(ranking, qrel, k),
    }


def judge_metrics(item: Item, answer: dict[str, Any], verdicts: dict[str, Any] | None) -> dict[str, float | Unmeasured]:
    out: dict[str, float | Unmeasured] = {}
    for criterion, verdict in (verdicts or {}).items():
        if verdict.get("passed") is None:
            out[criterion] = Unmeasured(verdict.get("reason") or "unmeasured")
        else:
            out[criterion] = 1.0 if verdict["passed"] else 0.0
    return out


def key_fact_agreement(
    scores: dict[str, float | Unmeasured], verdicts: dict[str, Any] | None
) -> dict[str, float | Unmeasured]:
    """Whether the judge's correctness verdict agrees with the key-fact check (1) or not (0): how far a judge
    can stand in for the check where no key facts exist. Only where a judge model was asked (a non-answer's
    "not correct" is no verdict) and the item has key facts; a verdict that did not parse leaves it unmeasured."""
    verdict = (verdicts or {}).get("correctness") or {}
    facts = scores.get("key_fact_accuracy")
    if not verdict.get("model") or not isinstance(facts, float):
        return {}
    judged = scores.get("correctness")
    if judged is None or isinstance(judged, Unmeasured):
        return {"key_fact_agreement": judged or Unmeasured("no correctness verdict")}
    return {"key_fact_agreement": 1.0 if (judged == 1.0) == (facts == 1.0) else 0.0}


def agent_metrics(answer: dict[str, Any], judge_seconds: float) -> dict[str, float]:
    timings = answer.get("timings", {})
    metrics = {
        "steps": float(answer.get("steps", 0)),
        "tool_calls": float(answer.get("tool_calls", 0)),
        "retries": float(answer.get("retries", 0)),
        "skipped": float(len(answer.get("skipped", []))),
        "tokens": float(answer.get("tokens", {}).get("total", 0)),
        "seconds": float(answer.get("seconds", 0.0)),
        "eval_judge_seconds": judge_seconds,
    }
    for part in TIME_PARTS:
        metrics[f"seconds_{part}"] = float(timings.get(part, 0.0))
    return metrics


def build_record(
    config: Configuration,
    item: Item,
    repeat: int,
    answer: dict[str, Any],
    verdicts: dict[str, Any] | None,
    metric_filter: list[str] | None = None,
) -> dict[str, Any]:
    cited_sources = [c["source"] for c in answer.get("citations", [])]
    scores: dict[str, float | Unmeasured] = {}
    scores.update(retrieval_metrics(answer.get("ranking", []), item, config.k))
    scores.update(answer_metrics(answer.get("answer", ""), bool(answer.get("abstained")), cited_sources, item))
    scores.update(judge_metrics(item, answer, verdicts))
    scores.update(key_fact_agreement(scores, verdicts))
    judge_seconds = sum(float(v.get("seconds", 0.0)) for v in (verdicts or {}).values())
    scores.update(agent_metrics(answer, judge_seconds))
    if answer.get("timed_out"):  # no answer to score: unmeasured, never a 0
        reason = "the model timed out"
        scores = {
            k: (Unmeasured(reason) if k in ANSWER_SCORES or k in verdicts_of(verdicts) else v)
            for k, v in scores.items()
        }
    scores = {k: v for k, v in scores.items() if not (isinstance(v, Unmeasured) and v.reason in NOT_APPLICABLE)}
    if metric_filter:
        scores = {name: value for name, value in scores.items() if name in metric_filter}
    return {
        "config": config.name,
        "id": item.id,
        "repeat": repeat,
        "question": item.question,
        "answerable": item.answerable,
        "reference": item.reference,
        "answer": answer.get("answer", ""),
        "abstained": bool(answer.get("abstained")),
        "error": answer.get("error"),
        "citations": answer.get("citations", []),
        "contexts": answer.get("contexts", []),
        "ranking": answer.get("ranking", []),
        "verdicts": verdicts or {},
        "timings": answer.get("timings", {}),
        "tokens": answer.get("tokens", {}),
        "metrics": {name: round(float(v), 6) for name, v in scores.items() if not isinstance(v, Unmeasured)},
        "unmeasured": {name: v.reason for name, v in scores.items() if isinstance(v, Unmeasured)},
    }


ANSWER_SCORES = frozenset(
    {
        "exact_match",
        "token_f1",
        "rouge_l",
        "key_fact_accuracy",
        "key_fact_recall",
        "citation_precision",
        "citation_recall",
        "abstention_accuracy",
        "wrong_abstention",
        "key_fact_agreement",
    }
)


def verdicts_of(verdicts: dict[str, Any] | None) -> set[str]:
    return set(verdicts or {})


def judge_inputs(item: Item, answer: dict[str, Any]) -> str | None:
    """Why the judge is not asked about this answer (None: ask it)."""
    if answer.get("timed_out"):
        return "the model timed out"
    if answer.get("error"):
        return "the agent failed on this item"
    if not item.answerable:
        return "unanswerable item"  # scored by abstention accuracy
    if answer.get("abstained"):
        return "the agent abstained"
    if answer.get("failed") and answer.get("answer", "").strip() == FAILED_ANSWER:
        return "the agent gave no usable answer"
    if not answer.get("answer", "").strip():
        return "empty answer"
    return None
