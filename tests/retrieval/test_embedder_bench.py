"""`ragloop bench embedders` parts: the seeded subset keeps every judged document, and one embedder's rows on
minibeir (real MiniLM, real store) carry both modes with the known quality."""

from __future__ import annotations

from pathlib import Path

from retrieval.beir import load_beir
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.embedder_bench import EmbedderBenchReport, bench_one, split_spec, subset

MINIBEIR = Path(__file__).resolve().parents[2] / "retrieval" / "data" / "minibeir"


def test_subset_keeps_the_judged_documents_of_the_sampled_queries(tmp_path: Path) -> None:
    full = load_beir(MINIBEIR)
    small_dir = subset(MINIBEIR, tmp_path / "minibeir", max_queries=5, max_docs=12, seed=1)
    small = load_beir(small_dir)
    assert len(small.qrels) == 5 and small.documents <= max(12, sum(len(j) for j in small.qrels.values()))
    ids = {line.split('"_id": "')[1].split('"')[0] for line in (small_dir / "corpus.jsonl").read_text().splitlines()}
    assert all(doc in ids for judged in small.qrels.values() for doc in judged)
    assert all(full.qrels[q] == small.qrels[q] for q in small.qrels)
    assert subset(MINIBEIR, tmp_path / "same", max_queries=None, max_docs=None) == MINIBEIR  # no limit: as is


def test_bench_one_scores_dense_and_hybrid(tmp_path: Path) -> None:
    rows = bench_one(MINIBEIR, SentenceTransformerEmbedder(), "all-MiniLM-L6-v2", tmp_path, lambda _: None)
    assert [row.mode for row in rows] == ["dense", "hybrid"]
    assert rows[0].metrics["ndcg@10"] > 0.9 and rows[0].chunks > 0 and rows[0].ingest_chunks_per_s > 0
    report = EmbedderBenchReport(rows=rows)
    assert "all-MiniLM-L6-v2" in report.table() and report.summary()["all-MiniLM-L6-v2"]["dense ndcg@10"] > 0.9
    assert split_spec("all-MiniLM-L6-v2@onnx-int8") == ("all-MiniLM-L6-v2", "onnx-int8")
    assert split_spec("openai:http://h/v1#m") == ("openai:http://h/v1#m", "torch")
