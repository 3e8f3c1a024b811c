"""BEIR evaluation: the shipped minibeir set, a long-document set (best chunk per document), the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from retrieval.beir import EvalReport, evaluate_beir, load_beir
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError

MINIBEIR = Path(__file__).resolve().parents[2] / "retrieval" / "data" / "minibeir"
METRICS = ["ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10"]


def test_minibeir_is_well_formed() -> None:
    data = load_beir(MINIBEIR)
    assert data.documents == 50 and len(data.queries) == 20 and len(data.qrels) == 20
    corpus_ids = {json.loads(line)["_id"] for line in data.corpus_path.read_text().splitlines()}
    grades = [g for rel in data.qrels.values() for g in rel.values()]
    assert {doc for rel in data.qrels.values() for doc in rel} <= corpus_ids
    assert set(grades) == {1, 2} and all(2 in rel.values() for rel in data.qrels.values())


@pytest.fixture(scope="module")
def hybrid_report(embedder: SentenceTransformerEmbedder) -> EvalReport:
    return evaluate_beir(MINIBEIR, mode="hybrid", embedder=embedder)


def test_evaluate_minibeir_hybrid(hybrid_report: EvalReport) -> None:
    report = hybrid_report
    assert list(report.metrics) == METRICS
    assert report.queries == 20 and report.chunks == 50 and report.documents == 50
    assert all(0.0 <= v <= 1.0 for v in report.metrics.values())
    assert report.metrics["recall@100"] == pytest.approx(1.0)  # every document is a candidate
    assert report.metrics["ndcg@10"] > 0.5  # far above chance on this easy set (no timing thresholds)
    assert report.latency_ms["p50"] <= report.latency_ms["p95"]
    assert report.notes and "reranking is off" in report.notes[0]
    assert set(report.per_query["mrr@10"]) == {f"q{i:02d}" for i in range(1, 21)}
    assert "ndcg@10" in report.table() and json.dumps(report.as_dict())


def test_long_documents_are_scored_by_their_best_chunk(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    filler = " ".join(f"Paragraph {i} talks about gardening, soil, compost and watering plants." for i in range(60))
    docs = [
        {"_id": "long", "title": "Garden", "text": filler + " The secret ingredient of the pesto is basil."},
        {"_id": "other", "title": "Cars", "text": "Electric cars charge their batteries from the grid."},
        {"_id": "third", "title": "Tea", "text": "Green tea is steeped at about eighty degrees."},
    ]
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "pesto basil ingredient"}))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\tlong\t1\n")
    report = evaluate_beir(tmp_path, mode="bm25", embedder=embedder)
    assert report.chunks > len(docs)  # the long document was split
    assert report.metrics["mrr@10"] == 1.0 and report.metrics["ndcg@10"] == pytest.approx(1.0)


def test_bad_dataset_directory(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match=r"corpus.jsonl is missing"):
        load_beir(tmp_path)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (tmp_path / name).write_text('{"_id": "a", "text": "x"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nzz\ta\t1\n")
    with pytest.raises(RetrievalError, match="judges queries missing"):
        load_beir(tmp_path)
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\na\ta\tmany\n")
    with pytest.raises(RetrievalError, match="not an integer"):
        load_beir(tmp_path)


def test_eval_cli_json_and_table() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "retrieval", str(MINIBEIR), "--mode", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "bm25" and list(data["metrics"]) == METRICS and data["queries"] == 20
    assert set(data["latency_ms"]) == {"p50", "p95", "mean"}
    result = runner.invoke(app, ["eval", "retrieval", str(MINIBEIR), "--mode", "dense", "--k", "5"])
    assert result.exit_code == 0 and "ndcg@5" in result.stdout and "latency p95" in result.stdout
