"""Retrieval evaluation on a BEIR-format directory.

Layout: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`), `qrels/<split>.tsv`
(`query-id`, `corpus-id`, `score` with a header line; graded relevance). `evaluate_beir` ingests the corpus
with the project's ingest pipeline into a collection of a temporary store (the JSONL loader takes BEIR's
`_id` as the document id), searches every judged query, and scores documents by their best chunk (the
first chunk of a document in the ranking decides its rank). Latency is the wall time of one
`HybridSearcher.run` call (query embedding, retrieval, fusion, rerank), after one warm-up query.
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import RetrievalError
from retrieval.metrics import evaluate, per_query
from retrieval.types import Embedder, Reranker, SearchMode

COLLECTION = "beir-eval"
RECALL_CUTS = (5, 10, 100)


@dataclass
class BeirDataset:
    name: str
    corpus_path: Path
    documents: int
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RetrievalError(f"{path}:{number} is not valid JSON ({exc.msg}).") from exc
            if not isinstance(record, dict) or "_id" not in record:
                raise RetrievalError(f"{path}:{number}: expected an object with an '_id' field.")
            records.append(record)
    return records


def load_beir(directory: Path, split: str = "test") -> BeirDataset:
    directory = Path(directory)
    corpus, queries_path, qrels_path = (
        directory / "corpus.jsonl",
        directory / "queries.jsonl",
        directory / "qrels" / f"{split}.tsv",
    )
    for path in (corpus, queries_path, qrels_path):
        if not path.is_file():
            raise RetrievalError(
                f"{path} is missing: a BEIR directory holds corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )
    documents = len(_read_jsonl(corpus))
    queries = {str(r["_id"]): str(r.get("text", "")) for r in _read_jsonl(queries_path)}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or header
            if len(row) != 3:
                raise RetrievalError(f"{qrels_path}:{number}: expected query-id, corpus-id, score.")
            qid, doc, grade = row
            try:
                qrels.setdefault(qid, {})[doc] = int(grade)
            except ValueError as exc:
                raise RetrievalError(f"{qrels_path}:{number}: score {grade!r} is not an integer.") from exc
    unknown = sorted(set(qrels) - set(queries))
    if unknown:
        raise RetrievalError(f"{qrels_path} judges queries missing from queries.jsonl: {', '.join(unknown[:5])}")
    return BeirDataset(directory.resolve().name, corpus, documents, queries, qrels)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class EvalReport:
    dataset: str
    mode: str
    reranker: str | None
    embedder: str
    k: int
    queries: int
    documents: int
    chunks: int
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    ingest_s: float
    notes: list[str] = field(default_factory=list)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "mode": self.mode,
            "reranker": self.reranker,
            "embedder": self.embedder,
            "k": self.k,
            "queries": self.queries,
            "documents": self.documents,
            "chunks": self.chunks,
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
            "latency_ms": {name: round(value, 2) for name, value in self.latency_ms.items()},
            "ingest_s": round(self.ingest_s, 2),
            "notes": self.notes,
        }

    def table(self) -> str:
        lines = [
            f"dataset {self.dataset}: {self.queries} queries, {self.documents} documents, {self.chunks} chunks",
            f"mode {self.mode}, reranker {self.reranker or 'off'}, embedder {self.embedder}",
            "",
            f"{'metric':<14}{'value':>10}",
        ]
        lines += [f"{name:<14}{value:>10.4f}" for name, value in self.metrics.items()]
        lines += [
            f"{'latency p50':<14}{self.latency_ms['p50']:>8.1f} ms",
            f"{'latency p95':<14}{self.latency_ms['p95']:>8.1f} ms",
            f"{'ingest':<14}{self.ingest_s:>8.1f} s",
        ]
        return "\n".join(lines)


def evaluate_beir(
    directory: Path,
    *,
    k: int = 10,
    mode: SearchMode = "hybrid",
    rerank_model: str | Path | None = None,
    rerank_backend: str = "torch",
    candidates: int = 30,
    rerank_weight: float | None = None,
    split: str = "test",
    embedder: Embedder | None = None,
    reranker: Reranker | None = None,
    work_dir: Path | None = None,
    onnx_cache: Path | None = None,
) -> EvalReport:
    """Ingest the corpus into a temporary store, search each judged query, and score the rankings.
    `rerank_backend` runs `rerank_model` on torch, onnx or onnx-int8 (exports cached in `onnx_cache`)."""
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.ingest import ingest
    from retrieval.reranker import build_reranker, default_rerank_weight
    from retrieval.search import HybridSearcher
    from retrieval.store import open_store

    data = load_beir(directory, split)
    if embedder is None:
        embedder = SentenceTransformerEmbedder()
    cut_k = max(k, *RECALL_CUTS)
    metric_names = [f"ndcg@{k}", *(f"recall@{c}" for c in RECALL_CUTS), f"mrr@{k}"]
    with tempfile.TemporaryDirectory(prefix="ragloop-beir-", dir=work_dir) as tmp:
        home = Path(tmp)
        if reranker is None and rerank_model is not None:  # ONNX exports go to onnx_cache, else die with tmp
            reranker = build_reranker(rerank_model, rerank_backend, cache_dir=onnx_cache or home / "onnx")
        with open_store(home) as store:
            started = time.perf_counter()
            ingest([data.corpus_path], store=store, collection=COLLECTION, embedder=embedder, home=home, progress=False)
            ingest_s = time.perf_counter() - started
            collection = store.get_collection(COLLECTION)
            searcher = HybridSearcher(
                collection,
                embedder,
                home=home,
                reranker=reranker,
                mode=mode,
                candidates=candidates,
                rerank_weight=default_rerank_weight(rerank_model) if rerank_weight is None else rerank_weight,
            )
            chunks = collection.count()
            judged = [q for q in data.qrels if q in data.queries]
            notes: list[str] = []
            if judged:
                notes = searcher.run(data.queries[judged[0]], k=cut_k * 2).notes  # warm-up: loads models, index
            run: dict[str, list[str]] = {}
            latencies: list[float] = []
            for qid in judged:
                started = time.perf_counter()
                result = searcher.run(data.queries[qid], k=cut_k * 2)  # chunks; documents may repeat
                latencies.append((time.perf_counter() - started) * 1000.0)
                ranking: list[str] = []
                for hit in result.hits:
                    if hit.chunk.doc_id not in ranking:
                        ranking.append(hit.chunk.doc_id)
                run[qid] = ranking[:cut_k]
    return EvalReport(
        dataset=data.name,
        mode=mode,
        reranker=getattr(reranker, "name", None),
        embedder=getattr(embedder, "label", embedder.name),
        k=k,
        queries=len(judged),
        documents=data.documents,
        chunks=chunks,
        metrics=evaluate(run, data.qrels, metric_names),
        latency_ms={
            "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95),
            "mean": statistics.fmean(latencies) if latencies else 0.0,
        },
        ingest_s=ingest_s,
        notes=notes,
        per_query=per_query(run, data.qrels, metric_names),
    )
