"""`ragloop bench embedders`: retrieval quality, ingest speed and query latency of several embedders, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json

MINIBEIR = Path(__file__).resolve().parents[2] / "retrieval" / "data" / "minibeir"


@bench_app.command("embedders")
def bench_embedders(
    dataset: Annotated[
        list[Path] | None,
        typer.Option(
            "--dataset",
            "-d",
            help="BEIR directory (repeatable; default: retrieval/data/minibeir). "
            "Held-out git set: ragloop reranker make-dataset --corpus git --out DIR.",
        ),
    ] = None,
    embedder: Annotated[
        list[str] | None,
        typer.Option(
            "--embedder",
            "-e",
            help="Embedder reference, NAME@BACKEND for a sentence-transformers runtime (repeatable; default: "
            "all-MiniLM-L6-v2, all-MiniLM-L6-v2@onnx-int8, nomic-embed-text-v1.5, nomic-embed-text-v1.5-q8).",
        ),
    ] = None,
    max_queries: Annotated[int | None, typer.Option(min=1, help="Judged queries per set (seeded sample).")] = None,
    max_docs: Annotated[
        int | None, typer.Option(min=1, help="Documents per set: the judged ones plus sampled distractors.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for llama.cpp embedders.")] = None,
    work_dir: Annotated[Path | None, typer.Option(help="Where temporary stores go (default: system temp).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """nDCG@10 / Recall@5 / MRR@10 of dense and hybrid search, ingest chunks/s and query latency p50, for each
    embedder on each BEIR set, in one run (every corpus ingested once per embedder)."""
    from agent.settings import load_settings
    from retrieval.embedder_bench import DEFAULT_EMBEDDERS, run_embedder_bench

    settings = load_settings()
    datasets = dataset or [MINIBEIR]
    for directory in datasets:
        if not (directory / "corpus.jsonl").is_file():
            raise typer.BadParameter(f"{directory} is not a BEIR directory (no corpus.jsonl)", param_hint="--dataset")
    report = run_embedder_bench(
        datasets,
        embedder or list(DEFAULT_EMBEDDERS),
        models_dir=settings.models_dir,
        cache_dir=settings.home / "onnx",
        threads=threads,
        max_queries=max_queries,
        max_docs=max_docs,
        work_dir=work_dir,
        progress=lambda msg: typer.echo(f"… {msg}", err=True),
    )
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
