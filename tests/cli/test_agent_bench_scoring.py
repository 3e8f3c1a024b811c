"""The demo question set and the scoring of `ragloop bench agent` (no model: plain functions and data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.bench import (
    DEFAULT_QUESTIONS,
    QuestionResult,
    fact_found,
    from_gold_source,
    load_questions,
    percentile,
    summarize,
)
from agent.errors import AgentError
from retrieval.ingest import DEMO_CORPUS


def corpus_documents() -> dict[str, str]:
    """Gold-source names → text: file names, and `llm-glossary.jsonl#id` for each JSONL record."""
    docs: dict[str, str] = {}
    for path in DEMO_CORPUS.iterdir():
        text = path.read_text(encoding="utf-8")
        docs[path.name] = text
        if path.suffix == ".jsonl":
            for line in text.splitlines():
                record = json.loads(line)
                docs[f"{path.name}#{record['id']}"] = record["text"]
    return docs


def test_demo_question_set_shape() -> None:
    questions = load_questions(DEFAULT_QUESTIONS)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    assert len(answerable) >= 30 and len(unanswerable) >= 10
    assert len({q.id for q in questions}) == len(questions)
    assert all(1 <= len(q.key_facts) <= 3 for q in answerable)
    assert all(not q.gold_sources and not q.key_facts for q in unanswerable)
    # the first questions (what --limit runs) include an unanswerable one
    assert any(not q.answerable for q in questions[:8])


def test_every_key_fact_is_in_a_gold_document() -> None:
    docs = corpus_documents()
    for q in load_questions(DEFAULT_QUESTIONS):
        for gold in q.gold_sources:
            assert gold in docs, f"{q.id}: gold source {gold} is not in the demo corpus"
        for alternatives in q.key_facts:
            assert any(fact_found(docs[g], alternatives) for g in q.gold_sources), (q.id, alternatives)


def test_unanswerable_questions_are_off_the_corpus() -> None:
    corpus = " ".join(corpus_documents().values()).casefold()
    for word in ("australia", "fifa", "sourdough", "gpt-4", "enterprise"):
        assert word not in corpus


def test_fact_matching_and_gold_sources() -> None:
    assert fact_found("RRF uses K = 60 by default", ["60"])
    assert fact_found("Proposed at sigir 2009", ["SIGIR"])
    assert not fact_found("a constant of sixty", ["60"])
    assert fact_found("limited by memory\nbandwidth", ["memory  bandwidth"])
    assert fact_found("the usual value is b = 0 [1].75 [2, 3].", ["0.75"])  # citation marks do not split facts
    assert fact_found("two to three times faster", ["2 to 3", "two to three"])
    assert from_gold_source("/x/demo_corpus/bm25.md", ["bm25.md"])
    assert from_gold_source("/x/llm-glossary.jsonl#glossary-lora", ["llm-glossary.jsonl#glossary-lora"])
    assert from_gold_source("/x/llm-glossary.jsonl#glossary-lora", ["llm-glossary.jsonl"])
    assert not from_gold_source("/x/llm-glossary.jsonl#glossary-moe", ["llm-glossary.jsonl#glossary-lora"])
    assert not from_gold_source("/x/rag.md", ["bm25.md"])


def test_percentile() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)


def result(config: str, answerable: bool, **fields: object) -> QuestionResult:
    base: dict[str, object] = {
        "config": config,
        "id": "q",
        "question": "?",
        "answerable": answerable,
        "answer": "",
        "abstained": False,
        "failed": False,
        "facts_found": 0,
        "facts_total": 2 if answerable else 0,
        "cited": 0,
        "cited_gold": 0,
        "grounded": None,
        "judge_rationale": "",
        "in_loop_grounded": None,
        "retries": 0,
        "skipped": [],
        "seconds": 1.0,
        "timings": {"total": 1.0},
        "tokens": {"total": 10},
        "eval_judge_seconds": 0.0,
    }
    base.update(fields)
    return QuestionResult(**base)  # type: ignore[arg-type]


def test_summarize() -> None:
    results = [
        result(
            "full",
            True,
            facts_found=2,
            cited=2,
            cited_gold=2,
            grounded=True,
            seconds=10.0,
            timings={"total": 10.0, "prompt": 4.0, "generation": 3.0, "retrieval": 0.5, "judge": 2.0},
        ),
        result(
            "full",
            True,
            facts_found=1,
            cited=2,
            cited_gold=1,
            grounded=False,
            seconds=20.0,
            timings={"total": 20.0, "prompt": 8.0, "generation": 6.0, "retrieval": 0.5, "judge": 4.0},
        ),
        result("full", True, abstained=True, seconds=2.0, timings={"total": 2.0}),
        result("full", False, abstained=True, seconds=1.0),
        result("full", False, abstained=False, seconds=3.0),
    ]
    s = summarize(results)
    assert (s["answerable"], s["unanswerable"]) == (3, 2)
    assert s["key_fact_accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["facts_found"] == pytest.approx(3 / 6, abs=1e-4)
    assert s["citation_precision"] == pytest.approx(3 / 4)
    assert s["groundedness_rate"] == pytest.approx(0.5) and s["judged_answers"] == 2
    assert s["abstention_unanswerable"] == pytest.approx(0.5)
    assert s["abstention_answerable"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["p50_seconds"] == pytest.approx(3.0)
    split = s["mean_seconds_split"]
    assert split["prompt"] == pytest.approx(12 / 5) and split["judge"] == pytest.approx(6 / 5)
    assert split["other"] == pytest.approx(36 / 5 - (12 + 9 + 1 + 6) / 5, abs=1e-3)


def test_load_questions_rejects_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a1", "question": "What?", "answerable": true, "gold_sources": [], "key_facts": ["x"]}\n')
    with pytest.raises(AgentError, match=r"q.jsonl:1: an answerable question needs gold_sources and key_facts"):
        load_questions(path)
    path.write_text("\n\n")
    with pytest.raises(AgentError, match="holds no questions"):
        load_questions(path)
    path.write_text('{"id": "u1", "question": "Capital of France?", "answerable": false}\n')
    [only] = load_questions(path)
    assert not only.answerable and only.key_facts == []


def test_report_from_records_keeps_questions_every_config_answered(tmp_path: Path) -> None:
    from agent.bench import Question, report_from_records

    questions = [
        Question("a1", "Q1?", True, ["x.md"], [["60"]]),
        Question("a2", "Q2?", True, ["x.md"], [["SIGIR"]]),
    ]
    rows = [
        result("plain", True, id="a1", answer="k is 60", facts_found=0),  # re-scored from the answer text
        result("full", True, id="a1", answer="sixty"),
        result("plain", True, id="a2", answer="SIGIR"),  # the run stopped before `full` answered a2
    ]
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(r.as_dict()) + "\n" for r in rows))
    report = report_from_records(records, questions)
    assert report.configs == ["plain", "full"]
    assert [(r.config, r.id, r.facts_found) for r in report.results] == [("plain", "a1", 1), ("full", "a1", 0)]
    assert "key-fact accuracy (all facts)" in report.table()
    records.write_text("{broken\n")
    with pytest.raises(AgentError, match=r"records\.jsonl:1: not a bench record"):
        report_from_records(records, questions)
