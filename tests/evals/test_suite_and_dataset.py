"""Suites (YAML and BEIR directories), configuration keys, and the bundled demo question set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.dataset import DEMO_QUESTIONS, DEMO_SUITE, load_dataset
from evals.errors import EvalError
from evals.suite import load_suite
from retrieval.ingest import DEMO_CORPUS


def corpus_text() -> dict[str, str]:
    texts = {}
    for path in DEMO_CORPUS.iterdir():
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                record = json.loads(line)
                texts[f"{path.name}#{record['id']}"] = record["text"]
        else:
            texts[path.name] = path.read_text()
    return texts


def test_demo_question_set_shape() -> None:
    items = load_dataset(DEMO_QUESTIONS)
    assert len(items) >= 60
    answerable = [i for i in items if i.answerable]
    assert len(items) - len(answerable) >= 10
    assert all(i.reference and i.key_facts and i.gold_sources for i in answerable)


def test_every_key_fact_is_in_a_gold_document() -> None:
    texts = corpus_text()
    for item in load_dataset(DEMO_QUESTIONS):
        gold = " ".join(
            " ".join(t.split()).casefold()
            for name, t in texts.items()
            if any(name == g or name.split("#")[0] == g for g in item.gold_sources)
        )
        for alternatives in item.key_facts:
            assert any(" ".join(a.split()).casefold() in gold for a in alternatives), (item.id, alternatives)


def test_bundled_demo_suite_loads() -> None:
    suite = load_suite(DEMO_SUITE)
    assert suite.dataset == DEMO_QUESTIONS and suite.corpus == DEMO_CORPUS
    names = [c.name for c in suite.configurations]
    assert len(names) == len(set(names)) >= 4
    judges = {c.judge_model for c in suite.configurations}
    assert "qwen2.5-coder-1.5b" in judges


def test_configurations_differing_by_judge_share_answers(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text('{"id": "a", "question": "q?", "reference": "r"}\n')
    (tmp_path / "s.yaml").write_text(
        "name: t\ndataset: q.jsonl\nmatrix:\n  - {name: small}\n  - {name: big, judge_model: qwen2.5-coder-1.5b}\n"
        "  - {name: dense, search_mode: dense}\n"
    )
    small, big, dense = load_suite(tmp_path / "s.yaml").configurations
    assert small.answer_key("c", "m") == big.answer_key("c", "m") != dense.answer_key("c", "m")
    assert small.judge_key("c", "m", "m", ["correctness"]) != big.judge_key("c", "m", "x", ["correctness"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: t\nmatrix: []\n", "exactly one of `dataset`"),
        ("name: t\ndataset: q.jsonl\nmatrix:\n  - {search_mode: sparse}\n", "search_mode"),
        ("name: t\ndataset: q.jsonl\nmatrix:\n  - {name: a}\n  - {name: a}\n", "names repeat"),
        ("name: t\ndataset: q.jsonl\njudge: {criteria: [vibes]}\n", "unknown judge criteria"),
        ("name: t\ndataset: q.jsonl\nmatrx: []\n", "matrx"),
        ("- just a list\n", "YAML mapping"),
    ],
)
def test_bad_suites_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(EvalError, match=message):
        load_suite(tmp_path / "s.yaml")


def test_bad_dataset_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "q", "reference": "r"}\n{"id": "a", "question": "q2", "reference": "r"}\n')
    with pytest.raises(EvalError, match=r"q.jsonl:2: duplicate id"):
        load_dataset(path)
    path.write_text('{"question": "no id"}\n')
    with pytest.raises(EvalError, match=r"q.jsonl:1: not a dataset record"):
        load_dataset(path)


def test_beir_directory_is_a_retrieval_only_suite() -> None:
    beir = Path("retrieval/data/minibeir")
    suite = load_suite(beir)
    assert suite.retrieval_only and [c.search_mode for c in suite.configurations] == ["dense", "hybrid"]


def test_new_unanswerable_questions_are_off_the_corpus() -> None:
    corpus = " ".join(corpus_text().values()).casefold()
    for word in ("bleu", "l12", "vicuna", "everest", "gpus", "chief executive"):
        assert word not in corpus
