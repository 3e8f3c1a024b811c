"""Small helpers shared by the command modules: settings by bare field name, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer

from agent.settings import Settings, load_settings


def settings_from(**flags: Any) -> Settings:
    """Settings with a few values given by bare field name (`settings_from(collection="docs")`); commands
    declare their flags with `agent.cli.options.with_settings` instead."""
    return load_settings(None, **flags)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
