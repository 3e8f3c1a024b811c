"""`ragloop serve-model`: the OpenAI-compatible model server, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import app
from agent.cli.options import with_settings
from agent.settings import Settings


@app.command("serve-model")
@with_settings("models", only=("model", "n_ctx", "threads", "api_key"))
def serve_model(
    settings: Settings,
    host: Annotated[str, typer.Option(help="Interface to bind; keep loopback unless you set --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8808,
    max_queue: Annotated[int, typer.Option(help="Requests that may wait while one runs; more get HTTP 503.")] = 8,
    prompt_lookup: Annotated[
        int | None, typer.Option(help="Prompt-lookup speculative decoding: draft tokens per step (off by default).")
    ] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another name requests may use for the model (repeatable).")
    ] = None,
) -> None:
    """Serve a local GGUF model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions)."""
    from local_models.server import ServerSettings, run_server

    m = settings.models
    if host not in ("127.0.0.1", "localhost", "::1") and not m.api_key:
        typer.secho(
            f"warning: serving on {host} without an API key; anyone who can reach it can use the model.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"loading {m.model} ...", err=True)
    run_server(
        ServerSettings(
            model=m.model,
            aliases=alias or [],
            host=host,
            port=port,
            n_ctx=m.n_ctx,
            threads=m.threads,
            api_key=m.api_key,
            max_queue=max_queue,
            prompt_lookup=prompt_lookup,
            cache_dir=settings.models_dir,
        )
    )
