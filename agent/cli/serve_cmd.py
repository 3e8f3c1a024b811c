"""`ragloop serve-model`: the OpenAI-compatible model server, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import app


@app.command("serve-model")
def serve_model(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Registered name, .gguf path or hub id (default: settings).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; keep loopback unless you set --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8808,
    n_ctx: Annotated[int | None, typer.Option("--n-ctx", help="Context window in tokens (default: settings).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for llama.cpp (default: all cores).")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Require `Authorization: Bearer KEY` on every request (or RAGLOOP_API_KEY).")
    ] = None,
    max_queue: Annotated[int, typer.Option(help="Requests that may wait while one runs; more get HTTP 503.")] = 8,
    prompt_lookup: Annotated[
        int | None, typer.Option(help="Prompt-lookup speculative decoding: draft tokens per step (off by default).")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another name requests may use for the model (repeatable).")
    ] = None,
) -> None:
    """Serve a local GGUF model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions)."""
    from agent.cli.common import settings_from
    from local_models.server import ServerSettings, run_server

    settings = settings_from(model=model, api_key=api_key, n_ctx=n_ctx, threads=threads)
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        typer.secho(
            f"warning: serving on {host} without an API key; anyone who can reach it can use the model.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"loading {settings.model} ...", err=True)
    run_server(
        ServerSettings(
            model=settings.model,
            aliases=alias or [],
            host=host,
            port=port,
            n_ctx=settings.n_ctx,
            threads=settings.threads,
            api_key=settings.api_key,
            max_queue=max_queue,
            prompt_lookup=prompt_lookup,
            cache_dir=settings.models_dir,
        )
    )
