"""A BEIR directory as a retrieval-only suite: `retrieval.beir.evaluate_beir` per configuration (dense, hybrid,
and reranked when the suite asks), its per-query nDCG/Recall/MRR turned into the harness's records, summary and
reports (so `eval compare` works on them). Each configuration's result is cached in the run directory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.suite import Suite

if TYPE_CHECKING:
    from agent.settings import Settings


def run_beir_suite(
    suite: Suite, out: Path, settings: Settings, *, limit: int | None = None, progress: bool = True
) -> dict[str, Any]:
    import sys

    from evals.report import write_reports
    from evals.runner import RECORDS, SUMMARY, RunClock
    from evals.summary import summarize_run
    from retrieval.beir import evaluate_beir, load_beir
    from retrieval.embedder import build_embedder

    assert suite.beir is not None
    clock = RunClock()
    out.mkdir(parents=True, exist_ok=True)
    data = load_beir(suite.beir)
    r = settings.retrieval
    records: list[dict[str, Any]] = []
    for config in suite.configurations:
        key = config.answer_key(str(suite.beir), "retrieval-only")
        cached = out / "cache" / "beir" / f"{key}.json"
        if cached.is_file():
            per_query = json.loads(cached.read_text(encoding="utf-8"))
        else:
            if progress:
                print(f"retrieval: {config.name} over {suite.beir.name}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            report = evaluate_beir(
                suite.beir,
                embedder=build_embedder(r.embedder, r.embed_backend, cache_dir=settings.home / "onnx"),
                k=config.k,
                mode=config.search_mode,
                rerank_model=config.rerank_model if config.rerank else None,
                rerank_backend=r.rerank_backend,
                onnx_cache=settings.home / "onnx",
                rerank_weight=r.rerank_weight,
            )
            clock.add("retrieval", time.perf_counter() - start)
            per_query = report.per_query
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(per_query), encoding="utf-8")
        queries = sorted({q for values in per_query.values() for q in values})[:limit]
        for qid in queries:
            records.append(
                {
                    "config": config.name,
                    "id": qid,
                    "repeat": 0,
                    "question": data.queries.get(qid, ""),
                    "answerable": True,
                    "metrics": {m: round(v[qid], 6) for m, v in per_query.items() if qid in v},
                    "unmeasured": {},
                }
            )
    with (out / RECORDS).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    meta = {
        "suite": suite.name,
        "description": suite.description,
        "suite_path": str(suite.path),
        "dataset": str(suite.beir),
        "collection": "(temporary BEIR store)",
        "seed": suite.seed,
        "repeats": 1,
        "items": len({rec["id"] for rec in records}),
        "limit": limit,
        "configurations": [{**c.model_dump(), "chat_model": None, "judge_model": None} for c in suite.configurations],
        "criteria": [],
    }
    summary = summarize_run(meta, records, seed=suite.seed)
    summary["timing"] = clock.as_dict()
    write_reports(out, summary, records)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    return summary
