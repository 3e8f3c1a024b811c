"""`ragloop bench embedders`: the embedders side by side in one run, on BEIR-format sets.

For every dataset and every embedder: the corpus goes through the project's ingest pipeline once (load,
chunk to the embedder's own token budget, embed as documents, upsert, BM25) into a temporary store, timed:
"chunks/s" (passages embedded per second, pipeline included) is what a user waits for. Then every judged
query is searched in dense and in hybrid mode (one warm-up query first) and the rankings are scored by
nDCG@10, Recall@5 and MRR@10 (a document ranks by its best chunk). Query latency is the wall time of one
search, query embedding included.

Embedder specs: any `build_embedder` reference, optionally with `@BACKEND` for a sentence-transformers runtime
(`all-MiniLM-L6-v2@onnx-int8`). A subset: `max_queries` judged queries (seeded sample) and `max_docs` documents
(every document those queries judge, plus a seeded sample of the rest as distractors), the same for every
embedder, so the rows stay comparable (a smaller corpus makes every score higher).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.beir import _percentile, _read_jsonl, load_beir
from retrieval.metrics import evaluate

MODES = ("dense", "hybrid")
METRICS = ("ndcg@10", "recall@5", "mrr@10")
DEFAULT_EMBEDDERS = (
    "all-MiniLM-L6-v2",
    "all-MiniLM-L6-v2@onnx-int8",
    "nomic-embed-text-v1.5",
    "nomic-embed-text-v1.5-q8",
)
Progress = Callable[[str], None]


@dataclass
class EmbedderRow:
    dataset: str
    embedder: str
    mode: str
    metrics: dict[str, float]
    query_p50_ms: float
    ingest_s: float
    ingest_chunks_per_s: float
    documents: int
    chunks: int
    queries: int


@dataclass
class EmbedderBenchReport:
    rows: list[EmbedderRow] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"info": self.info, "rows": [asdict(row) for row in self.rows], "summary": self.summary()}

    def summary(self) -> dict[str, dict[str, float]]:
        """Per embedder: mean nDCG@10 over the datasets for each mode, and its slowest ingest speed."""
        out: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(row.embedder for row in self.rows):
            rows = [row for row in self.rows if row.embedder == name]
            entry = {
                f"{mode} ndcg@10": statistics.fmean(r.metrics["ndcg@10"] for r in rows if r.mode == mode)
                for mode in MODES
                if any(r.mode == mode for r in rows)
            }
            entry["ingest chunks/s (min)"] = min(r.ingest_chunks_per_s for r in rows)
            out[name] = {key: round(value, 4) for key, value in entry.items()}
        return out

    def table(self) -> str:
        header = (
            f"{'dataset':<14}{'embedder':<34}{'mode':<8}{'nDCG@10':>9}{'R@5':>8}{'MRR@10':>8}"
            f"{'q p50 ms':>10}{'ingest s':>10}{'chunks/s':>10}{'chunks':>8}"
        )
        lines = [header, "-" * len(header)]
        for r in self.rows:
            m = r.metrics
            lines.append(
                f"{r.dataset:<14}{r.embedder:<34}{r.mode:<8}{m['ndcg@10']:>9.4f}{m['recall@5']:>8.4f}"
                f"{m['mrr@10']:>8.4f}{r.query_p50_ms:>10.1f}{r.ingest_s:>10.1f}{r.ingest_chunks_per_s:>10.1f}{r.chunks:>8}"
            )
        lines += ["", "mean over datasets:"]
        for name, values in self.summary().items():
            lines.append(f"  {name:<34}" + "  ".join(f"{key} {value:g}" for key, value in values.items()))
        return "\n".join(lines)


def split_spec(spec: str) -> tuple[str, str]:
    """`NAME@BACKEND` -> (NAME, BACKEND); a reference without a known backend suffix runs as it is."""
    name, sep, backend = spec.rpartition("@")
    if sep and backend in ("torch", "onnx", "onnx-int8"):
        return name, backend
    return spec, "torch"


def subset(directory: Path, out: Path, *, max_queries: int | None, max_docs: int | None, seed: int = 0) -> Path:
    """A smaller BEIR copy of `directory` in `out` (see the module docstring); `directory` if no limit applies."""
    data = load_beir(directory)
    judged = sorted(q for q in data.qrels if q in data.queries)
    if (max_queries is None or len(judged) <= max_queries) and (max_docs is None or data.documents <= max_docs):
        return directory
    rng = random.Random(seed)
    keep_queries = sorted(rng.sample(judged, max_queries)) if max_queries and len(judged) > max_queries else judged
    needed = {doc for q in keep_queries for doc in data.qrels[q]}
    corpus = _read_jsonl(data.corpus_path)
    others = [r for r in corpus if str(r["_id"]) not in needed]
    room = max(0, (max_docs or len(corpus)) - len(needed))
    chosen = needed | {str(r["_id"]) for r in rng.sample(others, min(room, len(others)))}
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for record in corpus:
            if str(record["_id"]) in chosen:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid in keep_queries:
            handle.write(json.dumps({"_id": qid, "text": data.queries[qid]}, ensure_ascii=False) + "\n")
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid in keep_queries:
            for doc, grade in data.qrels[qid].items():
                handle.write(f"{qid}\t{doc}\t{grade}\n")
    return out


def bench_one(
    directory: Path, embedder: Any, name: str, work_dir: Path | None, progress: Progress
) -> list[EmbedderRow]:
    """Ingest `directory`'s corpus with `embedder` once, then score dense and hybrid search."""
    from retrieval.beir import COLLECTION
    from retrieval.ingest import ingest
    from retrieval.search import HybridSearcher
    from retrieval.store import open_store

    data = load_beir(directory)
    judged = [q for q in sorted(data.qrels) if q in data.queries]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ragloop-embench-", dir=work_dir) as tmp:
        home = Path(tmp)
        with open_store(home) as store:
            progress(f"{directory.name}: ingesting {data.documents} passages with {name}")
            started = time.perf_counter()
            ingest([data.corpus_path], store=store, collection=COLLECTION, embedder=embedder, home=home, progress=False)
            ingest_s = time.perf_counter() - started
            collection = store.get_collection(COLLECTION)
            chunks = collection.count()
            for mode in MODES:
                searcher = HybridSearcher(collection, embedder, home=home, mode=mode)  # type: ignore[arg-type]
                if judged:
                    searcher.run(data.queries[judged[0]], k=20)  # warm-up
                run: dict[str, list[str]] = {}
                latencies: list[float] = []
                for qid in judged:
                    started = time.perf_counter()
                    result = searcher.run(data.queries[qid], k=20)
                    latencies.append((time.perf_counter() - started) * 1000.0)
                    ranking: list[str] = []
                    for hit in result.hits:
                        if hit.chunk.doc_id not in ranking:
                            ranking.append(hit.chunk.doc_id)
                    run[qid] = ranking[:10]
                metrics = evaluate(run, data.qrels, list(METRICS))
                rows.append(
                    EmbedderRow(
                        dataset=data.name,
                        embedder=name,
                        mode=mode,
                        metrics={k: round(v, 4) for k, v in metrics.items()},
                        query_p50_ms=round(_percentile(latencies, 0.5), 1),
                        ingest_s=round(ingest_s, 1),
                        ingest_chunks_per_s=round(chunks / ingest_s, 2) if ingest_s else 0.0,
                        documents=data.documents,
                        chunks=chunks,
                        queries=len(judged),
                    )
                )
                progress(f"{data.name} {name} {mode}: nDCG@10 {metrics['ndcg@10']:.4f}")
    return rows


def run_embedder_bench(
    datasets: list[Path],
    embedders: list[str],
    *,
    models_dir: Path,
    cache_dir: Path,
    threads: int | None = None,
    max_queries: int | None = None,
    max_docs: int | None = None,
    work_dir: Path | None = None,
    progress: Progress = lambda _: None,
) -> EmbedderBenchReport:
    from retrieval.embedder import build_embedder

    report = EmbedderBenchReport(
        info={
            "datasets": [str(d) for d in datasets],
            "embedders": embedders,
            "threads": threads,
            "max_queries": max_queries,
            "max_docs": max_docs,
        }
    )
    with tempfile.TemporaryDirectory(prefix="ragloop-embench-sets-", dir=work_dir) as sets:
        prepared = [
            subset(d, Path(sets) / d.resolve().name, max_queries=max_queries, max_docs=max_docs) for d in datasets
        ]
        for spec in embedders:
            name, backend = split_spec(spec)
            embedder = build_embedder(name, backend, cache_dir=cache_dir, models_dir=models_dir, threads=threads)
            try:
                for directory in prepared:
                    report.rows.extend(bench_one(directory, embedder, spec, work_dir, progress))
            finally:
                close = getattr(embedder, "close", None)
                if close is not None:
                    close()
    return report
