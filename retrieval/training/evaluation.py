"""`ragloop reranker eval`: a trained reranker against the retrievers it would sit behind, on one BEIR set.

Rows: BM25, dense, hybrid, hybrid + the reranker (torch fp32) and, when the model directory has it,
hybrid + the reranker (ONNX int8), each through `retrieval.beir.evaluate_beir` (same ingest, same searcher
as `ragloop search`). The corpus is embedded once: a cache of document embeddings is shared by the rows
(query embeddings are not cached, so per-query latency stays honest). Rerank latency is measured apart:
the p50 time of scoring `candidates` passages of the corpus for a query, torch fp32 vs ONNX int8.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrieval.errors import RetrievalError
from retrieval.training.shipped import INT8_FILE, MANIFEST, verify_model_dir
from retrieval.types import Embedder, EmbedKind, Reranker, SearchMode

Progress = Callable[[str], None]
METRICS = ("ndcg@10", "recall@5", "recall@10", "mrr@10")


class DocumentCachingEmbedder:
    """An `Embedder` that remembers document embeddings by text (queries always reach the model)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._cache: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        if kind != "document":
            return self.inner.embed(texts, kind)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing, kind), strict=True))
        return [self._cache[t] for t in texts]


def check_model_dir(model_dir: Path) -> None:
    """A directory a CrossEncoder loads from; verified against its manifest when it has one."""
    if not (model_dir / "config.json").is_file():
        raise RetrievalError(
            f"{model_dir} is not a trained reranker directory (no config.json); pass the --out of "
            "`ragloop reranker train`."
        )
    if (model_dir / MANIFEST).is_file():
        verify_model_dir(model_dir)


def rerank_latency_ms(reranker: Reranker, queries: list[str], passages: list[str], candidates: int) -> float:
    """p50 milliseconds to score `candidates` passages for one query (one warm-up call first)."""
    rng = random.Random(0)
    batch = lambda: rng.sample(passages, min(candidates, len(passages)))  # noqa: E731
    reranker.score(queries[0], batch())
    times = []
    for query in queries:
        chosen = batch()
        started = time.perf_counter()
        reranker.score(query, chosen)
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def compare_rerankers(
    model_dir: Path,
    dataset_dir: Path,
    *,
    candidates: int = 30,
    int8: bool = True,
    latency_queries: int = 10,
    rerank_weight: float = 1.0,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """nDCG@10, Recall@5/10, MRR@10 and per-query latency for each system, and the rerank latency. With
    `rerank_weight` below 1, a last row fuses the reranker's order (int8 when there) with the hybrid order."""
    from retrieval.beir import evaluate_beir, load_beir
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.reranker import CrossEncoderReranker

    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    data = load_beir(dataset_dir)
    cached = DocumentCachingEmbedder(embedder or SentenceTransformerEmbedder())
    torch_reranker = CrossEncoderReranker(model_dir)
    systems: list[tuple[str, SearchMode, Reranker | None, float]] = [
        ("bm25", "bm25", None, 1.0),
        ("dense", "dense", None, 1.0),
        ("hybrid", "hybrid", None, 1.0),
        ("hybrid + rerank (torch fp32)", "hybrid", torch_reranker, 1.0),
    ]
    int8_reranker = None
    if int8 and (model_dir / INT8_FILE).is_file():
        int8_reranker = CrossEncoderReranker(model_dir, backend="onnx", model_kwargs={"file_name": INT8_FILE})
        systems.append(("hybrid + rerank (onnx int8)", "hybrid", int8_reranker, 1.0))
    if rerank_weight < 1.0:
        runtime = "onnx int8" if int8_reranker is not None else "torch fp32"
        label = f"hybrid + rerank ({runtime}, weight {rerank_weight:g})"
        systems.append((label, "hybrid", int8_reranker or torch_reranker, rerank_weight))
    rows = []
    for label, mode, reranker, weight in systems:
        if progress:
            progress(f"evaluating {label} on {data.name} ({len(data.qrels)} queries)")
        report = evaluate_beir(
            dataset_dir, mode=mode, embedder=cached, reranker=reranker, candidates=candidates, rerank_weight=weight
        )
        rows.append(
            {
                "system": label,
                **{name: round(report.metrics[name], 4) for name in METRICS},
                "latency_p50_ms": round(report.latency_ms["p50"], 1),
            }
        )
    if progress:
        progress(f"measuring rerank latency for {candidates} candidates")
    corpus_texts = [str(r.get("text", "")) for r in _corpus_records(data.corpus_path)]
    queries = list(data.queries.values())[: max(1, latency_queries)]
    latency = {"torch fp32": round(rerank_latency_ms(torch_reranker, queries, corpus_texts, candidates), 1)}
    if int8_reranker is not None:
        latency["onnx int8"] = round(rerank_latency_ms(int8_reranker, queries, corpus_texts, candidates), 1)
    return {
        "dataset": data.name,
        "dataset_dir": str(Path(dataset_dir).resolve()),
        "model": str(model_dir.resolve()),
        "queries": len(data.qrels),
        "documents": data.documents,
        "candidates": candidates,
        "rerank_weight": rerank_weight,
        "rows": rows,
        "rerank_latency_ms": latency,
    }


def _corpus_records(path: Path) -> list[dict[str, Any]]:
    import json

    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def render_table(result: dict[str, Any]) -> str:
    lines = [
        f"dataset {result['dataset']}: {result['queries']} queries, {result['documents']} documents; "
        f"reranker {result['model']}",
        "",
        f"{'system':<44}{'nDCG@10':>9}{'Recall@5':>10}{'MRR@10':>9}{'p50 ms':>9}",
    ]
    for row in result["rows"]:
        lines.append(
            f"{row['system']:<44}{row['ndcg@10']:>9.4f}{row['recall@5']:>10.4f}{row['mrr@10']:>9.4f}"
            f"{row['latency_p50_ms']:>9.0f}"
        )
    latency = result["rerank_latency_ms"]
    parts = [f"{name} {value:.0f} ms" for name, value in latency.items()]
    if "onnx int8" in latency and latency["onnx int8"] > 0:
        parts.append(f"int8 speed-up {latency['torch fp32'] / latency['onnx int8']:.2f}x")
    lines += ["", f"rerank {result['candidates']} candidates, p50: " + ", ".join(parts)]
    return "\n".join(lines)
