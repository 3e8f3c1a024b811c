"""`ragloop memory list|add|forget|history|export|import [--user NAME] [--json]`: a user's long-term memory.

`forget` erases a fact everywhere it is stored (the record, its history, its embedding) and prints what it
removed; export/import use JSONL, one record a line. Only `add` may start the model (when a similar fact is
stored, the model decides between ADD / UPDATE / SUPERSEDE / NOOP).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli.app import app
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings

if TYPE_CHECKING:
    from memory.store import MemoryRecord

memory_app = typer.Typer(help="Long-term memory: what ragloop remembers about a user.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")

SECTIONS = ("models", "retrieval", "memory")
ONLY = ("user", "chroma_url", "model", "model_url", "api_key")
IdArg = Annotated[str, typer.Argument(help="Memory id (or a unique prefix of it), as `ragloop memory list` shows.")]


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _line(record: MemoryRecord) -> str:
    changes = len(record.history) - 1
    more = f"  ({changes} change{'s' if changes != 1 else ''})" if changes > 0 else ""
    return f"{record.id[:8]}  {record.updated_at[:10]}  {record.text}{more}"


@memory_app.command("list")
@with_settings(*SECTIONS, only=ONLY)
def list_cmd(settings: Settings, json_output: JsonOpt = False) -> None:
    """The facts and preferences remembered about the user, oldest first."""
    from agent.cli.wiring import open_runtime

    with open_runtime(settings) as rt:
        records = rt.memory().list()
    if json_output:
        _print_json([r.to_dict() for r in records])
        return
    if not records:
        typer.echo(f"nothing remembered about {settings.memory.user!r} yet", err=True)
    for record in records:
        typer.echo(_line(record))


@memory_app.command("add")
@with_settings(*SECTIONS, only=ONLY)
def add_cmd(
    settings: Settings,
    fact: Annotated[str, typer.Argument(help='The fact, in the first person: "I work on PostgreSQL 15".')],
    json_output: JsonOpt = False,
) -> None:
    """Remember a fact (a duplicate is a no-op; a similar one may be updated or superseded)."""
    from agent.cli.wiring import open_runtime

    if not fact.strip():
        raise typer.BadParameter("the fact is empty", param_hint="FACT")
    with open_runtime(settings) as rt:
        decision = rt.memory().remember(fact)
    record = decision.record
    if json_output:
        _print_json({"action": decision.action, "reason": decision.reason, "record": record and record.to_dict()})
        return
    if decision.stored and record is not None:
        typer.echo(f"{decision.action.lower()}: {record.id[:8]}  {record.text}")
    else:
        known = f" ({record.id[:8]}  {record.text})" if record is not None else ""
        typer.echo(f"not stored: {decision.reason}{known}")


@memory_app.command("forget")
@with_settings(*SECTIONS, only=ONLY)
def forget_cmd(settings: Settings, memory_id: IdArg, json_output: JsonOpt = False) -> None:
    """Erase a fact everywhere it is stored, its history included; prints what was removed."""
    from agent.cli.wiring import open_runtime

    with open_runtime(settings) as rt:
        removed = rt.memory().forget(memory_id)
    if json_output:
        _print_json({"removed": removed.to_dict()})
        return
    typer.echo(f"forgot {removed.id[:8]}: {removed.text}")
    for entry in removed.history[:-1]:
        typer.echo(f"  and its earlier value ({entry.when}): {entry.text}")


@memory_app.command("history")
@with_settings(*SECTIONS, only=ONLY)
def history_cmd(settings: Settings, memory_id: IdArg, json_output: JsonOpt = False) -> None:
    """How a fact changed: every value it took, when and why."""
    from agent.cli.wiring import open_runtime

    with open_runtime(settings) as rt:
        memory = rt.memory()
        record = memory.resolve(memory_id)
    if json_output:
        _print_json([h.to_dict() for h in record.history])
        return
    typer.echo(f"{record.id[:8]}  {record.text}")
    for entry in record.history:
        why = f"  — {entry.why}" if entry.why else ""
        typer.echo(f"  {entry.when}  {entry.action:<9} {entry.text}{why}")


@memory_app.command("export")
@with_settings(*SECTIONS, only=ONLY)
def export_cmd(
    settings: Settings,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    episodes: Annotated[bool, typer.Option("--episodes", help="Include answered questions and lessons.")] = False,
) -> None:
    """Export the user's memories as JSONL (one record a line, with its history)."""
    from agent.cli.wiring import open_runtime

    with open_runtime(settings) as rt:
        lines = [json.dumps(item, ensure_ascii=False) for item in rt.memory().export(episodes=episodes)]
    text = "".join(line + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"exported {len(lines)} record(s) to {output}", err=True)


@memory_app.command("import")
@with_settings(*SECTIONS, only=ONLY)
def import_cmd(
    settings: Settings,
    path: Annotated[Path, typer.Argument(help="A JSONL file written by `ragloop memory export` (- for stdin).")],
) -> None:
    """Import memories from JSONL into the user's memory (ids kept: importing twice changes nothing)."""
    from agent.cli.wiring import open_runtime

    if str(path) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="PATH") from exc
    with open_runtime(settings) as rt:
        count = rt.memory().import_lines(lines)
    typer.echo(f"imported {count} record(s) for {settings.memory.user!r}", err=True)
