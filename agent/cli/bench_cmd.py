"""`ragloop bench model`: the local model server against its limits and a peer, ratios in one run."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings


@bench_app.command("model")
@with_settings("models", only=("model", "n_ctx", "threads"))
def bench_model(
    settings: Settings,
    runs: Annotated[int, typer.Option(min=1, help="Interleaved runs per contender; medians are reported.")] = 3,
    max_tokens: Annotated[int, typer.Option(min=8, help="Tokens to generate per request.")] = 128,
    prompt_lookup: Annotated[int, typer.Option(min=1, help="Draft tokens for prompt-lookup decoding.")] = 10,
    peer: Annotated[bool, typer.Option(help="Also measure llama-cpp-python's own llama_cpp.server.")] = True,
    json_output: JsonOpt = False,
) -> None:
    """Tokens/s and time to first token: our server vs direct llama-cpp-python vs llama_cpp.server;
    prefix reuse on a second chat turn; prompt-lookup decoding on an answer copied from its context."""
    from local_models.bench import run_model_bench

    report = run_model_bench(
        settings.models.model,
        settings.models_dir,
        runs=runs,
        max_tokens=max_tokens,
        n_ctx=settings.models.n_ctx,
        threads=settings.models.threads,
        prompt_lookup=prompt_lookup,
        with_peer=peer,
        progress=lambda msg: typer.echo(f"… {msg}", err=True),
    )
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
