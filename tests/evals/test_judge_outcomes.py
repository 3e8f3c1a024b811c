"""The evaluation judge through the real `ChatModel` interface (scripted replies): parse failures are unmeasured
with the reason, never a pass, a fail or a crash; summaries and gates treat unmeasured honestly."""

from __future__ import annotations

import json

import pytest

from agent.judge import CitedSource
from agent.testing import ScriptedChatClient
from evals.dataset import Item
from evals.judge import judge_all, judge_pair
from evals.scoring import build_record
from evals.suite import Configuration
from evals.summary import fail_under, summarize_run

CONTEXTS = [CitedSource(1, "Hybrid search", "hybrid-search.md", "RRF uses k = 60.")]
GOOD_JUDGE = {
    "groundedness_rationale": "supported by [1]",
    "groundedness_pass": True,
    "relevance_rationale": "answers it",
    "relevance_pass": True,
}


def test_verdicts_parse_into_passes() -> None:
    chat = ScriptedChatClient(
        {"judge": [GOOD_JUDGE], "structured": [{"rationale": "same as reference", "correct": False}]}
    )
    out = judge_all(chat, "k in RRF?", "k = 60 [1]", CONTEXTS, "60")
    assert {c: o.passed for c, o in out.items()} == {"faithfulness": True, "relevance": True, "correctness": False}
    assert out["correctness"].rationale == "same as reference"


def test_unparseable_judge_output_is_unmeasured_with_reason() -> None:
    chat = ScriptedChatClient({"judge": ["this is not JSON"], "structured": ['{"rationale": "x"}']})
    out = judge_all(chat, "k in RRF?", "k = 60 [1]", CONTEXTS, "60")
    for outcome in out.values():
        assert outcome.passed is None
        assert outcome.reason is not None and outcome.reason.startswith("judge output did not parse")


def test_empty_context_and_missing_reference_are_unmeasured() -> None:
    chat = ScriptedChatClient({"judge": [GOOD_JUDGE]})
    out = judge_all(chat, "k?", "k = 60", [], None)
    assert out["faithfulness"].passed is None and out["faithfulness"].reason == "empty context"
    assert out["relevance"].passed is True
    assert out["correctness"].passed is None and out["correctness"].reason == "no reference answer"


def test_pairwise_unusable_output_is_none() -> None:
    assert judge_pair(ScriptedChatClient(["{}"]), "q", CONTEXTS, "a", "b") is None
    assert judge_pair(ScriptedChatClient([{"rationale": "B cites", "better": "B"}]), "q", CONTEXTS, "a", "b") == "B"


def _record(config: Configuration, item: Item, verdicts: dict) -> dict:
    answer = {
        "answer": "k = 60 [1]",
        "abstained": False,
        "citations": [{"source": "/c/hybrid-search.md"}],
        "ranking": ["hybrid-search.md"],
        "timings": {"total": 1.0},
        "seconds": 1.0,
    }
    return build_record(config, item, 0, answer, verdicts)


def test_all_unmeasured_metric_is_null_not_nan_and_fails_the_gate() -> None:
    config = Configuration(name="c")
    items = [
        Item(id=f"q{i}", question="k?", reference="k = 60", gold_sources=["hybrid-search.md"], key_facts=[["60"]])
        for i in range(3)
    ]
    bad = {"faithfulness": {"criterion": "faithfulness", "passed": None, "reason": "judge output did not parse: x"}}
    records = [_record(config, item, bad) for item in items]
    summary = summarize_run({"configurations": [{"name": "c"}]}, records, seed=0)
    stats = summary["configs"]["c"]["metrics"]["faithfulness"]
    assert stats["mean"] is None and stats["unmeasured_rate"] == 1.0
    assert stats["unmeasured_reasons"] == {"judge output did not parse": 3}
    text = json.dumps(summary, allow_nan=False)  # raises on NaN or infinity
    assert "NaN" not in text
    assert fail_under(summary, {"faithfulness": 0.1}) == ["c: faithfulness not measured on any item (gate 0.1)"]
    assert fail_under(summary, {"key_fact_accuracy": 1.0}) == []
    assert fail_under(summary, {"key_fact_accuracy": 1.1})[0].startswith("c: key_fact_accuracy = 1.0000 is below")


def test_self_preference_and_corrected_estimates() -> None:
    own = Configuration(name="own")
    other = Configuration(name="other", judge_model="big")
    items = [Item(id=f"q{i}", question="k?", reference="60", gold_sources=["hybrid-search.md"]) for i in range(6)]

    def verdicts(passed: bool) -> dict:
        return {"correctness": {"criterion": "correctness", "passed": passed, "reason": None}}

    records = [_record(own, item, verdicts(True)) for item in items]
    records += [_record(other, item, verdicts(i % 2 == 0)) for i, item in enumerate(items)]
    meta = {
        "configurations": [
            {"name": "own", "chat_model": "small", "judge_model": "small", "answer_key": "k1"},
            {"name": "other", "chat_model": "small", "judge_model": "big", "answer_key": "k1"},
        ]
    }
    labels = {"q0": {"correctness": True}, "q1": {"correctness": False}, "own/q2": {"correctness": False}}
    summary = summarize_run(meta, records, seed=0, labels=labels)
    (row,) = summary["self_preference"]
    assert (row["self_judge"], row["other_judge"]) == ("own", "other")
    assert row["criteria"]["correctness"]["delta"] == 0.5 and row["criteria"]["correctness"]["n"] == 6
    corrected = summary["configs"]["own"]["corrected"]["correctness"]
    # judge mean 1.0 on 6 items; labelled q0, q1, own/q2: judge - human = 0, 1, 1 -> bias 2/3
    assert corrected["labelled"] == 3 and corrected["estimate"] == pytest.approx(1 - 2 / 3, abs=1e-5)
    json.dumps(summary, allow_nan=False)


def test_timed_out_answer_is_unmeasured_not_zero() -> None:
    item = Item(id="q", question="k?", reference="k = 60", gold_sources=["hybrid-search.md"], key_facts=[["60"]])
    answer = {"answer": "", "timed_out": True, "error": "ChatBackendError: did not answer in time", "ranking": []}
    verdicts = {"correctness": {"criterion": "correctness", "passed": None, "reason": "the model timed out"}}
    record = build_record(Configuration(name="c"), item, 0, answer, verdicts)
    for metric in ("token_f1", "key_fact_accuracy", "wrong_abstention", "correctness"):
        assert record["unmeasured"][metric] == "the model timed out"
        assert metric not in record["metrics"]


def test_key_fact_agreement_only_where_a_judge_gave_a_correctness_verdict() -> None:
    item = Item(id="q", question="k?", reference="k = 60", gold_sources=["hybrid-search.md"], key_facts=[["60"]])

    def correctness(passed: bool | None, model: str = "judge", reason: str | None = None) -> dict:
        return {"correctness": {"criterion": "correctness", "passed": passed, "reason": reason, "model": model}}

    config = Configuration(name="c")  # the answer "k = 60 [1]" holds the key fact
    assert _record(config, item, correctness(True))["metrics"]["key_fact_agreement"] == 1.0
    assert _record(config, item, correctness(False))["metrics"]["key_fact_agreement"] == 0.0
    unparsed = _record(config, item, correctness(None, reason="judge output did not parse: x"))
    assert unparsed["unmeasured"]["key_fact_agreement"] == "judge output did not parse: x"
    not_asked = _record(config, item, correctness(False, model=""))  # a non-answer's "not correct": no verdict
    assert "key_fact_agreement" not in not_asked["metrics"] | not_asked["unmeasured"]
    no_facts = Item(id="q", question="k?", reference="k = 60", gold_sources=["hybrid-search.md"])
    assert "key_fact_agreement" not in _record(config, no_facts, correctness(True))["metrics"]
