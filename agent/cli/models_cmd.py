"""`ragloop models list|path`."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import models_app
from agent.cli.common import print_json, settings_from


@models_app.command("list")
def list_models(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the registered models: kind, size, quantization, context, template/tool support, presence."""
    from local_models.registry import MODELS

    settings = settings_from()
    rows = [
        {
            "name": spec.name,
            "kind": spec.kind,
            "size_mb": round(spec.size_bytes / 1e6, 1),
            "quantization": spec.quantization,
            "context_length": spec.context_length,
            "chat_template": spec.chat_template,
            "tool_calls": spec.tool_calls,
            "present": spec.is_present(settings.models_dir),
            "description": spec.description,
        }
        for spec in MODELS.values()
    ]
    if json_output:
        print_json(rows)
        return
    header = f"{'NAME':<22} {'KIND':<10} {'SIZE':>9} {'QUANT':<7} {'CTX':>6} {'CHAT':<5} {'TOOLS':<9} {'PRESENT':<7}"
    typer.echo(header)
    for row in rows:
        typer.echo(
            f"{row['name']:<22} {row['kind']:<10} {row['size_mb']:>7.1f}MB {row['quantization']:<7} "
            f"{row['context_length']:>6} "
            f"{'yes' if row['chat_template'] else 'no':<5} {row['tool_calls']:<9} "
            f"{'yes' if row['present'] else 'no':<7}"
        )


@models_app.command("path")
def model_path(
    name: Annotated[str, typer.Argument(help="Registered name, .gguf path or hub id owner/repo:file.gguf.")],
) -> None:
    """Print the resolved, sha256-verified GGUF file (assembling it into the cache if needed)."""
    from local_models.registry import resolve_model

    settings = settings_from()
    typer.echo(str(resolve_model(name, settings.models_dir).path))
