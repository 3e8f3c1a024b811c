"""Answer metrics against hand-computed examples; unmeasured and not-applicable states."""

from __future__ import annotations

import pytest

from evals.answer_metrics import (
    Unmeasured,
    abstention_accuracy,
    answer_metrics,
    citation_precision,
    citation_recall,
    exact_match,
    key_fact_accuracy,
    key_fact_recall,
    lcs_length,
    normalize,
    rouge_l,
    token_f1,
    wrong_abstention,
)
from evals.dataset import Item

ITEM = Item(
    id="q",
    question="What does b control?",
    reference="b controls the length normalization.",
    gold_sources=["bm25.md", "llm-glossary.jsonl"],
    key_facts=[["length"], ["0.75", "three quarters"]],
)
OFF = Item(id="u", question="Capital of Australia?", answerable=False)


def test_normalize_drops_citations_case_punctuation_articles() -> None:
    assert normalize("The Length [1], normalization [2, 3]!") == "length normalization"


def test_exact_match() -> None:
    assert exact_match("B controls the length normalization [1].", ITEM.reference) == 1.0
    assert exact_match("b controls length", ITEM.reference) == 0.0
    assert exact_match("anything", None) == Unmeasured("no reference answer")


def test_token_f1_hand_computed() -> None:
    # reference tokens: b controls length normalization (4); answer: b sets length (3); common: b, length = 2
    # precision 2/3, recall 2/4 -> F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7
    assert token_f1("b sets length", ITEM.reference) == pytest.approx(4 / 7)
    assert token_f1("nothing shared", ITEM.reference) == 0.0
    assert token_f1("b b b", "b") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))  # bag counts: 1 common of 3


def test_rouge_l_hand_computed() -> None:
    assert lcs_length(["a", "b", "c", "d"], ["a", "c", "d", "b"]) == 3
    # answer "length b controls normalization" vs reference "b controls length normalization":
    # LCS = "b controls normalization" (3); P = 3/4, R = 3/4 -> F = 0.75
    assert rouge_l("length b controls normalization", ITEM.reference) == pytest.approx(0.75)
    assert rouge_l("x", None) == Unmeasured("no reference answer")


def test_key_facts_alternatives_and_citation_marks() -> None:
    assert key_fact_accuracy("Length normalization; usually 0 [1].75", ITEM) == 1.0
    assert key_fact_accuracy("Length normalization only.", ITEM) == 0.0
    assert key_fact_recall("Length normalization only.", ITEM) == 0.5
    assert key_fact_recall("three quarters of the LENGTH", ITEM) == 1.0
    assert isinstance(key_fact_accuracy("x", OFF), Unmeasured)


def test_citation_precision_and_recall() -> None:
    cited = ["/corpus/bm25.md", "/corpus/rag.md", "/corpus/llm-glossary.jsonl#glossary-lora", "/corpus/bm25.md"]
    assert citation_precision(cited, ITEM) == pytest.approx(3 / 4)
    assert citation_recall(cited, ITEM) == 1.0
    assert citation_recall(["/corpus/rag.md"], ITEM) == 0.0
    assert citation_precision([], ITEM) == Unmeasured("the answer cites nothing")


def test_abstention() -> None:
    assert abstention_accuracy(True, OFF) == 1.0
    assert abstention_accuracy(False, OFF) == 0.0
    assert wrong_abstention(True, ITEM) == 1.0
    assert wrong_abstention(False, ITEM) == 0.0
    assert abstention_accuracy(True, ITEM) == Unmeasured("answerable item")


def test_answer_metrics_on_unanswerable_item_only_scores_abstention() -> None:
    scores = answer_metrics("I could not find it.", True, [], OFF)
    measured = {k: v for k, v in scores.items() if not isinstance(v, Unmeasured)}
    assert measured == {"abstention_accuracy": 1.0}
