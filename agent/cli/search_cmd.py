"""`ragloop search` and `ragloop eval retrieval`. Heavy imports live inside the command functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.app import app, eval_app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings

ModeOpt = Annotated[str, typer.Option("--mode", help="dense | bm25 | hybrid (reciprocal rank fusion).")]
NoRerankOpt = Annotated[bool, typer.Option("--no-rerank", help="Do not rerank even with --rerank-model.")]
CandidatesOpt = Annotated[int, typer.Option("--candidates", min=1, help="Fused candidates passed to reranking.")]


def _snippet(text: str, width: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_hits(result: Any) -> None:
    for note in result.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    if not result.hits:
        typer.echo("no results")
        return
    for hit in result.hits:
        c = hit.chunk
        where = c.source + (f" p.{c.page}" if c.page is not None else "")
        heading = " > ".join(c.heading_path)
        title = f"{c.title} — " if c.title else ""
        typer.secho(f"{hit.rank}. {title}{where}" + (f" › {heading}" if heading else ""), bold=True)
        stages = "  ".join(f"{stage} {value:.4g}" for stage, value in hit.scores.items())
        typer.echo(f"   score {hit.score:.4g}  ({stages})  id {c.id}")
        typer.echo(f"   {_snippet(c.text)}")


@app.command("search")
@with_settings("retrieval")
def search(
    settings: Settings,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Results to return.")] = 5,
    mode: ModeOpt = "hybrid",
    no_rerank: NoRerankOpt = False,
    candidates: CandidatesOpt = 30,
    where: Annotated[
        str | None, typer.Option("--where", help='Metadata filter as JSON (Chroma syntax), e.g. {"page": 2}.')
    ] = None,
    mmr: Annotated[bool, typer.Option("--mmr", help="Push near-identical chunks down (MMR).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Search a collection: dense + BM25 fused by reciprocal rank fusion, optionally reranked."""
    from agent.cli.wiring import open_runtime, searcher_for
    from retrieval.manifest import interrupted_ingest_warning
    from retrieval.query_checks import check_k, check_query, check_where
    from retrieval.search import check_mode, parse_where

    check_query(query)  # bad input fails before anything heavy loads
    check_k(k, "--k")
    check_k(candidates, "--candidates")
    filter_ = check_where(parse_where(where))
    search_mode = check_mode(mode)
    with open_runtime(settings) as rt:
        if note := interrupted_ingest_warning(rt.store, settings.retrieval.collection):
            typer.secho(f"warning: {note}", err=True, fg=typer.colors.YELLOW)
        options: dict[str, Any] = {"mode": search_mode, "candidates": candidates, "where": filter_, "mmr": mmr}
        if no_rerank:
            options["rerank_model"] = None
        searcher = searcher_for(settings, rt.store, **options)
        result = searcher.run(query, k)
        if no_rerank:
            result.notes = ["reranking turned off (--no-rerank)"]
    if json_out:
        embedder = {"name": searcher.embedder.name, "runtime": getattr(searcher.embedder, "runtime", None)}
        print_json({"collection": settings.retrieval.collection, "embedder": embedder, **result.as_dict()})
    else:
        _print_hits(result)


@eval_app.command("retrieval")
@with_settings("retrieval", exclude=("collection", "chroma_url"))
def eval_retrieval(
    settings: Settings,
    dataset_dir: Annotated[Path, typer.Argument(help="BEIR directory: corpus.jsonl, queries.jsonl, qrels/test.tsv")],
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off of the ranking metrics (nDCG@k, MRR@k).")] = 10,
    mode: ModeOpt = "hybrid",
    no_rerank: NoRerankOpt = False,
    candidates: CandidatesOpt = 30,
    split: Annotated[str, typer.Option("--split", help="qrels file name under qrels/ (without .tsv).")] = "test",
    json_out: JsonOpt = False,
) -> None:
    """Ingest a BEIR dataset into a temporary store and report nDCG, Recall, MRR and latency per query."""
    from retrieval.beir import evaluate_beir
    from retrieval.embedder import build_embedder
    from retrieval.search import check_mode

    r = settings.retrieval
    report = evaluate_beir(
        dataset_dir,
        embedder=build_embedder(r.embedder, r.embed_backend, cache_dir=settings.home / "onnx"),
        k=k,
        mode=check_mode(mode),
        rerank_model=None if no_rerank else r.rerank_model,
        rerank_backend=r.rerank_backend,
        onnx_cache=settings.home / "onnx",
        candidates=candidates,
        rerank_weight=r.rerank_weight,
        split=split,
    )
    if json_out:
        print_json(report.as_dict())
        return
    for note in report.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    typer.echo(report.table())
