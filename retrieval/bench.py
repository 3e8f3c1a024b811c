"""`ragloop bench retrieval`: the retrieval path against its limits, measured side by side in one run.

1. Ingest throughput: the project's ingest pipeline (load, chunk, embed, upsert, manifest, BM25) on
   synthetic documents, against raw `SentenceTransformer.encode` on exactly the chunks it stored (the
   limit). Target ratio >= 0.8.
2. Query latency p50/p95 per mode (dense, bm25, hybrid, hybrid + rerank of 30 candidates) at each size of
   `sizes` chunks. The chunks are generated deterministically: English-like text drawn from the minibeir
   vocabulary (so BM25 sees realistic postings) with seeded random unit vectors as embeddings (embedding
   100k chunks for real would take about an hour on 2 cores and does not change search latency). Queries
   are embedded for real. Peak RSS is read after each size.
3. ONNX: the bi-encoder and the cross-encoder with sentence-transformers' ONNX backend, fp32 and dynamic
   int8, against torch: speed-up, and the quality change (bi-encoder: nDCG@10 of dense retrieval on
   minibeir; cross-encoder: rank agreement of its scores with torch, since the project's own trained
   cross-encoder does not exist yet; the bundled MiniLM loaded as a CrossEncoder has the same compute cost).
"""

from __future__ import annotations

import json
import random
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.beir import _percentile, evaluate_beir
from retrieval.types import Chunk

MINIBEIR = Path(__file__).resolve().parent / "data" / "minibeir"
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class BenchRow:
    section: str
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class RetrievalBenchReport:
    rows: list[BenchRow] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, section: str, name: str, value: float, unit: str, note: str = "") -> None:
        self.rows.append(BenchRow(section, name, value, unit, note))

    def as_dict(self) -> dict[str, Any]:
        return {"info": self.info, "rows": [row.__dict__ for row in self.rows]}

    def table(self) -> str:
        width = max((len(r.name) for r in self.rows), default=10) + 2
        lines = [f"{'section':<10}{'measure':<{width}}{'value':>12}  unit      note"]
        for r in self.rows:
            value = f"{r.value:.3f}" if r.unit in ("ratio", "x", "nDCG@10", "rho") else f"{r.value:.1f}"
            lines.append(f"{r.section:<10}{r.name:<{width}}{value:>12}  {r.unit:<9} {r.note}".rstrip())
        return "\n".join(lines)


# -- synthetic data --------------------------------------------------------------------------------
def vocabulary() -> list[str]:
    words: dict[str, int] = {}
    for line in (MINIBEIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for word in re.findall(r"[a-z][a-z0-9-]+", f"{record['title']} {record['text']}".lower()):
            words[word] = words.get(word, 0) + 1
    return sorted(words, key=lambda w: (-words[w], w))  # frequent first: Zipf-like sampling below


def synthetic_texts(n: int, seed: int, words_per_text: tuple[int, int] = (120, 160)) -> list[str]:
    vocab = vocabulary()
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        length = rng.randint(*words_per_text)
        sentence = rng.choices(vocab, weights=weights, k=length)
        texts.append(" ".join(sentence).capitalize() + ".")
    return texts


def synthetic_queries(n: int, seed: int) -> list[str]:
    vocab = vocabulary()[20:800]  # skip the most frequent words, like real queries do
    rng = random.Random(seed)
    return [" ".join(rng.sample(vocab, rng.randint(3, 6))) for _ in range(n)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


# -- sections --------------------------------------------------------------------------------------
def bench_ingest(
    report: RetrievalBenchReport, embedder: Any, docs: int, work: Path, progress: Progress, rounds: int = 2
) -> None:
    """Ingest pipeline vs raw encode of the same chunks, alternated `rounds` times (fresh store each round),
    best round of each: a burst of load from another process then skews neither side."""
    from retrieval.ingest import ingest
    from retrieval.store import open_store

    corpus = work / "ingest-corpus"
    corpus.mkdir()
    with (corpus / "docs.jsonl").open("w", encoding="utf-8") as handle:
        for i, text in enumerate(synthetic_texts(docs, seed=1)):
            handle.write(json.dumps({"id": f"doc{i}", "title": f"Doc {i}", "text": text}) + "\n")
    embedder.embed(["warm up"])
    model = embedder.model
    ingest_times, encode_times = [], []
    texts: list[str] = []
    chunks = 0
    for round_ in range(rounds):
        home = work / f"ingest-home-{round_}"
        progress(f"ingest round {round_ + 1}/{rounds}: {docs} synthetic documents, then raw encode of its chunks")
        with open_store(home) as store:
            result, seconds = _timed(
                lambda s=store, h=home: ingest(  # type: ignore[misc]
                    [corpus], store=s, collection="bench-ingest", embedder=embedder, home=h, progress=False
                )
            )
            texts = [t for _, page in store.get_collection("bench-ingest").iter_texts() for t in page]
        chunks = result.chunks
        ingest_times.append(seconds)
        _, seconds = _timed(
            lambda t=texts: model.encode(  # type: ignore[misc]
                t, batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        )
        encode_times.append(seconds)
    tokens = statistics.fmean(embedder.count_tokens(t) for t in texts[:50])
    pipeline = len(texts) / min(ingest_times)
    raw = len(texts) / min(encode_times)
    note = f"{chunks} chunks of ~{tokens:.0f} tokens, best of {rounds}"
    report.add("ingest", "raw encode", raw, "chunks/s", note)
    report.add("ingest", "ingest pipeline", pipeline, "chunks/s", "load+chunk+embed+upsert+manifest+BM25")
    report.add("ingest", "pipeline / raw", pipeline / raw, "ratio", "target >= 0.8")


def bench_size(
    report: RetrievalBenchReport,
    embedder: Any,
    rerankers: dict[str, Any],
    size: int,
    queries: list[str],
    rerank_queries: int,
    work: Path,
    progress: Progress,
) -> None:
    import numpy as np

    from retrieval.bm25 import rebuild_index
    from retrieval.search import HybridSearcher
    from retrieval.store import open_store

    home = work / f"size-{size}"
    label = f"{size // 1000}k"
    progress(f"{label}: generating and storing {size} chunks")
    texts = synthetic_texts(size, seed=size, words_per_text=(40, 120))
    rng = np.random.default_rng(size)
    with open_store(home) as store:
        coll = store.create_collection("bench-search", embedder=embedder.name, dimension=embedder.dimension)
        start = time.perf_counter()
        step = 5000
        for lo in range(0, size, step):
            vectors = rng.standard_normal((min(step, size - lo), embedder.dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunks = [
                Chunk(id=f"s{i}", text=texts[i], doc_id=f"doc{i // 4}", source=f"synthetic/{i // 4}.txt")
                for i in range(lo, lo + len(vectors))
            ]
            coll.upsert(chunks, vectors)
        upsert_s = time.perf_counter() - start
        _, bm25_s = _timed(lambda: rebuild_index(home, coll))
        report.add(label, "store upsert", size / upsert_s, "chunks/s", "precomputed vectors")
        report.add(label, "BM25 build", bm25_s, "s")
        for mode in ("dense", "bm25", "hybrid"):
            searcher = HybridSearcher(coll, embedder, home=home, mode=mode)
            lat = _latencies(lambda q, s=searcher: s.run(q, 5), queries)  # type: ignore[misc]
            progress(f"{label}: {mode} p50 {lat[0]:.1f} ms")
            report.add(label, f"{mode} p50", lat[0], "ms")
            report.add(label, f"{mode} p95", lat[1], "ms")
        for backend, reranker in rerankers.items():
            searcher = HybridSearcher(coll, embedder, home=home, mode="hybrid", reranker=reranker, candidates=30)
            lat = _latencies(lambda q, s=searcher: s.run(q, 5), queries[:rerank_queries])  # type: ignore[misc]
            progress(f"{label}: hybrid+rerank ({backend}) p50 {lat[0]:.1f} ms")
            report.add(label, f"hybrid+rerank30 {backend} p50", lat[0], "ms", "issue target <= 500 ms at 100k")
            report.add(label, f"hybrid+rerank30 {backend} p95", lat[1], "ms")
    report.add(label, "peak RSS so far", peak_rss_mb(), "MB")


def _latencies(fn: Callable[[str], Any], queries: list[str]) -> tuple[float, float]:
    fn(queries[0])  # warm-up: index load, model first call
    values = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        values.append((time.perf_counter() - start) * 1000.0)
    return _percentile(values, 0.5), _percentile(values, 0.95)


def bench_onnx(report: RetrievalBenchReport, work: Path, progress: Progress, passages: int) -> None:
    import numpy as np

    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.onnx_export import export_onnx, torch_source
    from retrieval.reranker import CrossEncoderReranker

    texts = synthetic_texts(passages, seed=7)
    queries = synthetic_queries(20, seed=8)
    variants: dict[str, dict[str, Any]] = {"torch": {}}
    for label, int8 in (("onnx", False), ("onnx-int8", True)):
        progress(f"exporting the bi-encoder and cross-encoder to {label}")
        emb_dir, emb_kwargs = export_onnx(None, work / "onnx-embedder", kind="embedder", int8=int8)
        rr_dir, rr_kwargs = export_onnx(None, work / "onnx-reranker", kind="reranker", int8=int8)
        variants[label] = {"emb": (emb_dir, emb_kwargs), "rr": (rr_dir, rr_kwargs)}

    base_speed = base_query = base_ndcg = base_rr = 0.0
    base_scores: list[float] = []
    pairs_query = queries[0]
    candidates = texts[:30]
    for label, spec in variants.items():
        if label == "torch":
            emb = SentenceTransformerEmbedder()
            rr = CrossEncoderReranker(torch_source(work / "onnx-reranker"))  # the exported weights
        else:
            emb = SentenceTransformerEmbedder(spec["emb"][0], backend="onnx", model_kwargs=spec["emb"][1])
            rr = CrossEncoderReranker(spec["rr"][0], backend="onnx", model_kwargs=spec["rr"][1])
        emb.embed(texts[:4])
        _, encode_s = _timed(lambda e=emb: e.embed_array(texts))  # type: ignore[misc]
        speed = passages / encode_s
        query_ms = _latencies(lambda q, e=emb: e.embed([q], "query"), queries)[0]  # type: ignore[misc]
        progress(f"{label}: minibeir dense evaluation")
        ndcg = evaluate_beir(MINIBEIR, mode="dense", embedder=emb, work_dir=work).metrics["ndcg@10"]
        rr.score(pairs_query, candidates[:2])
        rr_ms = _latencies(lambda q, r=rr: r.score(q, candidates), queries[:5])[0]  # type: ignore[misc]
        scores = rr.score(pairs_query, candidates)
        if label == "torch":
            base_speed, base_query, base_ndcg, base_rr, base_scores = speed, query_ms, ndcg, rr_ms, scores
        report.add("onnx", f"embed {label}", speed, "passages/s", f"~{emb.count_tokens(texts[0])} tokens each")
        report.add("onnx", f"query embed {label} p50", query_ms, "ms")
        report.add("onnx", f"minibeir dense {label}", ndcg, "nDCG@10")
        report.add("onnx", f"rerank 30 {label} p50", rr_ms, "ms")
        if label != "torch":
            rho = float(np.corrcoef(np.argsort(np.argsort(scores)), np.argsort(np.argsort(base_scores)))[0, 1])
            report.add("onnx", f"embed speed-up {label}", speed / base_speed, "x", "vs torch")
            report.add("onnx", f"query speed-up {label}", base_query / query_ms, "x", "vs torch")
            report.add("onnx", f"nDCG@10 change {label}", ndcg - base_ndcg, "nDCG@10", "vs torch")
            report.add("onnx", f"rerank speed-up {label}", base_rr / rr_ms, "x", "vs torch")
            report.add("onnx", f"rerank rank agreement {label}", rho, "rho", "Spearman vs torch scores")


def run_retrieval_bench(
    sizes: list[int],
    *,
    queries: int = 30,
    rerank_queries: int = 10,
    ingest_docs: int = 256,
    onnx: bool = True,
    onnx_passages: int = 128,
    work_dir: Path | None = None,
    progress: Progress = _quiet,
) -> RetrievalBenchReport:
    import torch

    from retrieval.embedder import SentenceTransformerEmbedder, bundled_minilm_path
    from retrieval.reranker import build_reranker

    report = RetrievalBenchReport()
    report.info = {
        "sizes": sizes,
        "queries": queries,
        "rerank_queries": rerank_queries,
        "ingest_docs": ingest_docs,
        "torch_threads": torch.get_num_threads(),
    }
    embedder = SentenceTransformerEmbedder()
    qs = synthetic_queries(queries, seed=3)
    with tempfile.TemporaryDirectory(prefix="ragloop-bench-", dir=work_dir) as tmp:
        work = Path(tmp)
        # the bundled MiniLM as a CrossEncoder: the same compute cost as the project's own reranker
        rerankers = {
            backend: build_reranker(bundled_minilm_path(), backend, cache_dir=work / "onnx")
            for backend in ("torch", "onnx-int8")
        }
        bench_ingest(report, embedder, ingest_docs, work, progress)
        for size in sizes:
            bench_size(report, embedder, rerankers, size, qs, rerank_queries, work, progress)
        if onnx:
            bench_onnx(report, work, progress, onnx_passages)
    report.add("memory", "peak RSS (process)", peak_rss_mb(), "MB")
    return report
