"""`ragloop search` and `ragloop eval retrieval`. Heavy imports live inside the command functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.app import app, eval_app
from agent.cli.common import print_json, settings_from


ModeOpt = Annotated[str, typer.Option("--mode", help="dense | bm25 | hybrid (reciprocal rank fusion).")]
CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")]
ChromaOpt = Annotated[
    str | None, typer.Option("--chroma-url", help="Chroma server URL (env RAGLOOP_CHROMA_URL); default embedded.")
]
NoRerankOpt = Annotated[bool, typer.Option("--no-rerank", help="Do not rerank even with --rerank-model.")]
RerankModelOpt = Annotated[
    str | None,
    typer.Option("--rerank-model", help="CrossEncoder name or path; enables reranking (default: settings, off)."),
]
RerankBackendOpt = Annotated[
    str | None,
    typer.Option("--rerank-backend", help="Reranker runtime: torch | onnx | onnx-int8 (default: settings, onnx-int8)."),
]
EmbedBackendOpt = Annotated[
    str | None,
    typer.Option("--embed-backend", help="Embedder runtime: torch | onnx | onnx-int8 (default: settings, torch)."),
]
RerankWeightOpt = Annotated[
    float | None,
    typer.Option(
        "--rerank-weight",
        min=0.0,
        max=1.0,
        help="Reranker's share of a weighted RRF with the hybrid order; 1 is the reranker alone "
        "(default: settings, else 0.3 for ragloop-reranker and 1 for other models).",
    ),
]
CandidatesOpt = Annotated[int, typer.Option("--candidates", min=1, help="Fused candidates passed to reranking.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


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
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: CollectionOpt = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Results to return.")] = 5,
    mode: ModeOpt = "hybrid",
    no_rerank: NoRerankOpt = False,
    rerank_model: RerankModelOpt = None,
    rerank_backend: RerankBackendOpt = None,
    rerank_weight: RerankWeightOpt = None,
    embed_backend: EmbedBackendOpt = None,
    candidates: CandidatesOpt = 30,
    where: Annotated[
        str | None, typer.Option("--where", help='Metadata filter as JSON (Chroma syntax), e.g. {"page": 2}.')
    ] = None,
    mmr: Annotated[bool, typer.Option("--mmr", help="Push near-identical chunks down (MMR).")] = False,
    json_out: JsonOpt = False,
    chroma_url: ChromaOpt = None,
) -> None:
    """Search a collection: dense + BM25 fused by reciprocal rank fusion, optionally reranked."""
    from retrieval.search import build_searcher, check_mode, parse_where
    from retrieval.store import open_store

    filter_ = parse_where(where)  # bad JSON fails before anything heavy loads
    search_mode = check_mode(mode)
    settings = settings_from(
        collection=collection,
        chroma_url=chroma_url,
        rerank_model=rerank_model,
        rerank_backend=rerank_backend,
        rerank_weight=rerank_weight,
        embed_backend=embed_backend,
    )
    with open_store(settings.home, settings.chroma_url) as store:
        searcher = build_searcher(
            store,
            settings.home,
            settings.collection,
            rerank_model=None if no_rerank else settings.rerank_model,
            rerank_backend=settings.rerank_backend,
            embed_backend=settings.embed_backend,
            mode=search_mode,
            candidates=candidates,
            rerank_weight=settings.rerank_weight,
            where=filter_,
            mmr=mmr,
        )
        result = searcher.run(query, k)
        if no_rerank:
            result.notes = ["reranking turned off (--no-rerank)"]
    if json_out:
        print_json({"collection": settings.collection, **result.as_dict()})
    else:
        _print_hits(result)


@eval_app.command("retrieval")
def eval_retrieval(
    dataset_dir: Annotated[Path, typer.Argument(help="BEIR directory: corpus.jsonl, queries.jsonl, qrels/test.tsv")],
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off of the ranking metrics (nDCG@k, MRR@k).")] = 10,
    mode: ModeOpt = "hybrid",
    no_rerank: NoRerankOpt = False,
    rerank_model: RerankModelOpt = None,
    rerank_backend: RerankBackendOpt = None,
    rerank_weight: RerankWeightOpt = None,
    embed_backend: EmbedBackendOpt = None,
    candidates: CandidatesOpt = 30,
    split: Annotated[str, typer.Option("--split", help="qrels file name under qrels/ (without .tsv).")] = "test",
    json_out: JsonOpt = False,
) -> None:
    """Ingest a BEIR dataset into a temporary store and report nDCG, Recall, MRR and latency per query."""
    from retrieval.beir import evaluate_beir
    from retrieval.embedder import build_embedder
    from retrieval.search import check_mode

    settings = settings_from(
        rerank_model=rerank_model,
        rerank_backend=rerank_backend,
        rerank_weight=rerank_weight,
        embed_backend=embed_backend,
    )
    report = evaluate_beir(
        dataset_dir,
        embedder=build_embedder(None, settings.embed_backend, cache_dir=settings.home / "onnx"),
        k=k,
        mode=check_mode(mode),
        rerank_model=None if no_rerank else settings.rerank_model,
        rerank_backend=settings.rerank_backend,
        onnx_cache=settings.home / "onnx",
        candidates=candidates,
        rerank_weight=settings.rerank_weight,
        split=split,
    )
    if json_out:
        print_json(report.as_dict())
        return
    for note in report.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    typer.echo(report.table())
