"""Small helpers shared by the command modules: settings from flags, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer

from agent.settings import Settings, load_settings


def settings_from(**flags: Any) -> Settings:
    return load_settings(**flags)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
