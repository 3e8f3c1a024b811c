"""`ragloop bench retrieval`: ingest throughput, query latency per mode and size, ONNX variants, memory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.strip().lower().replace("k", "000")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated chunk counts such as 10000,100000 (got {text!r})") from None
    if not sizes or any(size < 100 for size in sizes):
        raise typer.BadParameter("every size must be at least 100 chunks")
    return sizes


@bench_app.command("retrieval")
def bench_retrieval(
    sizes: Annotated[
        str, typer.Option(help="Collection sizes in chunks, comma-separated (e.g. 10k,100k; 100k takes ~10 min).")
    ] = "10k",
    queries: Annotated[int, typer.Option(min=2, help="Queries per mode and size.")] = 30,
    rerank_queries: Annotated[int, typer.Option(min=2, help="Queries for hybrid + rerank (slow).")] = 10,
    ingest_docs: Annotated[int, typer.Option(min=8, help="Synthetic documents for the ingest measurement.")] = 256,
    onnx: Annotated[bool, typer.Option(help="Also measure the ONNX (fp32, int8) backends.")] = True,
    work_dir: Annotated[Path | None, typer.Option(help="Where temporary stores go (default: system temp).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Retrieval against its limits in one run: ingest vs raw encode, latency p50/p95 per mode at each size,
    hybrid + rerank of 30 candidates, ONNX speed-ups and quality change, peak memory."""
    from retrieval.bench import run_retrieval_bench

    report = run_retrieval_bench(
        _sizes(sizes),
        queries=queries,
        rerank_queries=rerank_queries,
        ingest_docs=ingest_docs,
        onnx=onnx,
        work_dir=work_dir,
        progress=lambda msg: typer.echo(f"… {msg}", err=True),
    )
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
