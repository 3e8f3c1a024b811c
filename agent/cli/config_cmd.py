"""`ragloop config show [--json]`: the effective settings and where each value came from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agent.cli.app import app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt

config_app = typer.Typer(
    help="Inspect the settings (flags > RAGLOOP_* > ragloop.toml > defaults).", no_args_is_help=True
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(
    json_output: JsonOpt = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show API keys and tokens instead of ***.")] = False,
) -> None:
    """Print every setting, its value and its origin (default, file, env VAR); API keys are masked."""
    from agent.settings import env_name, flat_view, load_settings_with_origins

    loaded = load_settings_with_origins()
    values = flat_view(loaded.settings, reveal=reveal)
    rows: list[dict[str, Any]] = []
    for path, value in values.items():
        section, _, name = path.rpartition(".")
        rows.append(
            {
                "key": path,
                "value": value,
                "origin": loaded.origins.get(path, "default"),
                "env": env_name(section or None, name),
            }
        )
    if json_output:
        print_json({"config_file": str(loaded.settings.config_file), "settings": rows})
        return
    typer.echo(
        f"config file: {loaded.settings.config_file}" + ("" if loaded.settings.config_file.is_file() else " (absent)")
    )
    width = max(len(row["key"]) for row in rows)
    for row in rows:
        value = "-" if row["value"] is None else row["value"]
        typer.echo(f"{row['key']:<{width}}  {value!s:<40}  {row['origin']}")
