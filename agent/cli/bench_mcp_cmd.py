"""`ragloop bench mcp`: search_knowledge_base over stdio and streamable HTTP vs the direct call, side by side."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings


@bench_app.command("mcp")
@with_settings("retrieval", only=("collection", "chroma_url", "embed_backend", "rerank_model", "rerank_backend"))
def bench_mcp(
    settings: Settings,
    queries: Annotated[int, typer.Option(min=3, help="Queries per contender (interleaved).")] = 30,
    k: Annotated[int, typer.Option(min=1, max=50, help="Hits per search.")] = 5,
    json_output: JsonOpt = False,
) -> None:
    """MCP overhead: the search tool's round trip over stdio and HTTP vs the direct Python call (p50/p95, ratio),
    the cost of opening the store per call, and each transport's cold start. Needs an ingested collection."""
    import sys
    from pathlib import Path

    from agent.cli.mcp_cmd import store_sessions
    from tools.mcp_bench import run_mcp_bench

    r = settings.retrieval
    sessions = store_sessions(settings)
    with sessions.open() as session:
        chunks = session.store.get_collection(r.collection).get(
            ids=session.store.get_collection(r.collection).ids()[: queries * 3]
        )
    texts = [" ".join(c.text.split()[:8]) for c in chunks if c.text.strip()]
    if not texts:
        raise typer.BadParameter(f"collection {r.collection!r} is empty: ingest something first")
    chosen = [texts[i % len(texts)] for i in range(0, queries * 3, 3)][:queries]
    script = Path(sys.executable).with_name("ragloop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent.cli"]
    report = run_mcp_bench(
        home=settings.home,
        collection=r.collection,
        queries=chosen,
        k=k,
        sessions=sessions,
        server_command=command,
        progress=lambda msg: typer.echo(f"… {msg}", err=True),
    )
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
