"""`ragloop bench model`: the local model server against its limits and a peer, ratios in one run."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json, settings_from


@bench_app.command("model")
def bench_model(
    model: Annotated[str | None, typer.Option(help="Model name, .gguf path or hub id (default: settings).")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Interleaved runs per contender; medians are reported.")] = 3,
    max_tokens: Annotated[int, typer.Option(min=8, help="Tokens to generate per request.")] = 128,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=512, help="Context size for every contender.")] = 4096,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    prompt_lookup: Annotated[int, typer.Option(min=1, help="Draft tokens for prompt-lookup decoding.")] = 10,
    peer: Annotated[bool, typer.Option(help="Also measure llama-cpp-python's own llama_cpp.server.")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Tokens/s and time to first token: our server vs direct llama-cpp-python vs llama_cpp.server;
    prefix reuse on a second chat turn; prompt-lookup decoding on an answer copied from its context."""
    from local_models.bench import run_model_bench

    settings = settings_from(model=model, n_ctx=n_ctx, threads=threads)
    report = run_model_bench(
        settings.model,
        settings.models_dir,
        runs=runs,
        max_tokens=max_tokens,
        n_ctx=settings.n_ctx,
        threads=settings.threads,
        prompt_lookup=prompt_lookup,
        with_peer=peer,
        progress=lambda msg: typer.echo(f"… {msg}", err=True),
    )
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
