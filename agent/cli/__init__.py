"""The composition root: the `ragloop` command, the only code that wires every area together.

Command modules import their heavy dependencies inside the command functions, so that
`ragloop --help` stays instant.
"""

from agent.cli import models_cmd as _models_cmd  # noqa: F401  (registers commands)
from agent.cli.app import app, main

__all__ = ["app", "main"]
