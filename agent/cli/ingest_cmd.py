"""`ragloop ingest PATH...` and `ragloop collections list|stats|delete`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli.app import app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.cli.wiring import embedder_for, open_settings_store
from agent.settings import Settings

if TYPE_CHECKING:
    from retrieval.store import Store

collections_app = typer.Typer(help="List, inspect and delete collections.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")

STORE_ONLY = ("chroma_url", "lock_wait")  # collections commands: which store, nothing else


@app.command("ingest")
@with_settings("retrieval", only=("chroma_url", "lock_wait", "collection", "embedder", "embed_backend"))
def ingest_command(
    settings: Settings,
    paths: Annotated[list[Path], typer.Argument(help="Files and directories to ingest.", show_default=False)],
    glob: Annotated[
        str | None, typer.Option("--glob", help="Only files whose name or relative path matches, e.g. '*.md'.")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete documents of files that no longer exist under PATH.")
    ] = False,
    max_mb: Annotated[
        float, typer.Option("--max-mb", help="Skip files larger than this many MB.", min=0.001, max=100_000)
    ] = 20,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks", help="Also read links that point outside the ingested folder (skipped by default)."
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Add files (Markdown, text, HTML, PDF, code, JSONL) to a collection; unchanged files are skipped cheaply."""
    from retrieval.ingest import check_paths, ingest

    roots = check_paths(paths)  # before opening anything: a typo is reported at once
    with open_settings_store(settings) as store:
        report = ingest(
            roots,
            store=store,
            collection=settings.retrieval.collection,
            embedder=embedder_for(settings, store),
            home=settings.home,
            glob=glob,
            prune=prune,
            progress=sys.stderr.isatty() and not json_output,
            max_bytes=int(max_mb * 1024 * 1024),
            follow_symlinks=follow_symlinks,
        )
    if json_output:
        print_json(report.as_dict())
        return
    for warning in report.warnings:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    if report.orphans_removed:
        typer.echo(f"repaired: removed {report.orphans_removed} chunks left by an interrupted ingest", err=True)
    typer.echo(report.summary())


def _collection_row(store: Store, name: str) -> dict[str, Any]:
    from retrieval.manifest import Manifest

    collection = store.get_collection(name)
    manifest = Manifest.open(store, name, create=False)
    return {
        "name": name,
        "documents": len(manifest) if manifest is not None else len(collection.documents()),
        "chunks": collection.count(),
        "embedder": collection.embedder,
    }


@collections_app.command("list")
@with_settings("retrieval", only=STORE_ONLY)
def list_collections(settings: Settings, json_output: JsonOpt = False) -> None:
    """Show every collection with its documents, chunks and embedding model."""
    from retrieval.manifest import is_manifest_name

    with open_settings_store(settings) as store:
        rows = [_collection_row(store, n) for n in store.list_collections() if not is_manifest_name(n)]
    if json_output:
        print_json(rows)
        return
    if not rows:
        typer.echo("no collections yet: create one with `ragloop ingest PATH --collection NAME`")
        return
    typer.echo(f"{'NAME':<30} {'DOCS':>7} {'CHUNKS':>8}  EMBEDDER")
    for row in rows:
        typer.echo(f"{row['name']:<30} {row['documents']:>7} {row['chunks']:>8}  {row['embedder'] or '-'}")


@collections_app.command("stats")
@with_settings("retrieval", only=STORE_ONLY)
def collection_stats(
    settings: Settings,
    name: Annotated[str, typer.Argument(help="Collection name.")],
    json_output: JsonOpt = False,
) -> None:
    """Documents, chunks, embedding model, dimension and BM25 index state of one collection."""
    from retrieval.bm25 import BM25Index, fingerprint, index_dir
    from retrieval.manifest import Manifest, check_collection_name

    check_collection_name(name)
    with open_settings_store(settings) as store:
        stats = store.stats(name).as_dict()
        manifest = Manifest.open(store, name, create=False)
        bm25 = BM25Index.load(index_dir(settings.home, name)) if index_dir(settings.home, name).exists() else None
        stats["manifest_documents"] = len(manifest) if manifest is not None else None
        stats["interrupted_ingest"] = bool(manifest and manifest.dirty)
        stats["bm25_chunks"] = len(bm25) if bm25 is not None else None
        stats["bm25_current"] = bool(
            bm25 is not None and manifest is not None and bm25.fingerprint == fingerprint(manifest.chunk_ids())
        )
    if json_output:
        print_json(stats)
        return
    for key, value in stats.items():
        typer.echo(f"{key + ':':<22}{'-' if value is None else value}")


@collections_app.command("delete")
@with_settings("retrieval", only=STORE_ONLY)
def delete_collection(
    settings: Settings,
    name: Annotated[str, typer.Argument(help="Collection name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Delete a collection, its document manifest and its BM25 index."""
    from retrieval.bm25 import delete_index
    from retrieval.errors import RetrievalError
    from retrieval.manifest import check_collection_name, delete_manifest

    check_collection_name(name)
    with open_settings_store(settings) as store:
        stats = store.stats(name)  # CollectionNotFoundError when it does not exist
        if not yes:
            if not sys.stdin.isatty():
                raise RetrievalError(f"Deleting {name!r} needs confirmation: pass --yes.")
            typer.confirm(f"Delete collection {name!r} ({stats.chunks} chunks)?", abort=True)
        store.delete_collection(name)
        delete_manifest(store, name)
    delete_index(settings.home, name)
    if json_output:
        print_json({"deleted": name, "chunks": stats.chunks})
        return
    typer.echo(f"deleted collection {name!r} ({stats.chunks} chunks)")
