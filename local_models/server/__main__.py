"""`python -m local_models.server [--model NAME] [--port N] ...`: the flags are generated from `ServerSettings`.

An entry point, so it may read the environment: `RAGLOOP_API_KEY` sets the API key when `--api-key`
is not given (`local_models.serve` passes the key that way, so it never shows in `ps`); `--api-key-file
PATH` reads it from the first line of a file instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
import types
import typing
from pathlib import Path
from typing import Any

from local_models.errors import ModelError
from local_models.server.settings import ServerSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_models.server", description=__doc__)
    for name, field in ServerSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind = _scalar(field.annotation)
        help_text = field.description or ""
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind is list:
            parser.add_argument(flag, action="append", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument(
        "--api-key-file", type=Path, default=None, help="Read the API key from this file (not visible in `ps`)."
    )
    parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)  # an inherited listening socket
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)  # exit when it dies
    return parser


def _scalar(annotation: Any) -> Any:
    """int | None -> int; Literal[...] -> str; list[str] -> list."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _scalar(args[0])
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) is list:
        return list
    if annotation is Path:
        return Path
    return annotation


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    fd = args.pop("fd")
    parent = args.pop("parent_pid")
    if parent is not None:
        _exit_with_parent(parent)
    key_file = args.pop("api_key_file")
    given = {key: value for key, value in args.items() if value is not None}
    if key_file is not None:
        try:
            given["api_key"] = key_file.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            reason = "it is empty" if isinstance(exc, IndexError) else str(exc)
            print(
                f"error: cannot read an API key from {key_file} ({reason}); give a text file with the key.",
                file=sys.stderr,
            )
            return 2
    if "api_key" not in given and os.environ.get("RAGLOOP_API_KEY"):
        given["api_key"] = os.environ["RAGLOOP_API_KEY"]
    if "cache_dir" not in given and os.environ.get("RAGLOOP_HOME"):
        given["cache_dir"] = Path(os.environ["RAGLOOP_HOME"]).expanduser() / "models"
    from pydantic import ValidationError

    from local_models.server.run import run_server

    try:
        settings = ServerSettings(**given)
        run_server(settings, sock=socket.socket(fileno=fd) if fd is not None else None)
    except (ModelError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _exit_with_parent(parent: int) -> None:
    """Stop (SIGTERM to ourselves, so uvicorn shuts down cleanly) when the process that started us is gone,
    so a killed test run or CLI never leaves a model server behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
