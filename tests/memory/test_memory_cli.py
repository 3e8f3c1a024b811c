"""`ragloop memory ...`: in-process through the real Typer app (one subprocess checks the clean error path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from memory.errors import MemoryStoreError


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def test_add_list_history_forget_export_import(cli: CliRunner, tmp_path: Path) -> None:
    assert run(cli, "memory", "add", "I work on PostgreSQL 15", "--user", "alice").startswith("add: ")
    assert run(cli, "memory", "add", "i work on postgresql 15", "--user", "alice").startswith(
        "not stored: exact duplicate"
    )
    run(cli, "memory", "add", "My phone number is 555 0100", "--user", "alice")
    records = json.loads(run(cli, "memory", "list", "--user", "alice", "--json"))
    # two adds in the same second may list in either order: the contents are the point
    assert sorted(r["text"] for r in records) == ["I work on PostgreSQL 15", "My phone number is 555 0100"]
    assert json.loads(run(cli, "memory", "list", "--user", "bob", "--json")) == []
    phone = next(r["id"] for r in records if r["text"].startswith("My phone"))
    history = json.loads(run(cli, "memory", "history", phone[:6], "--user", "alice", "--json"))
    assert [h["action"] for h in history] == ["ADD"]
    assert "forgot " in run(cli, "memory", "forget", phone[:6], "--user", "alice")
    exported = run(cli, "memory", "export", "--user", "alice")
    assert "555" not in exported and len(exported.splitlines()) == 1
    (tmp_path / "alice.jsonl").write_text(exported)
    run(cli, "memory", "import", str(tmp_path / "alice.jsonl"), "--user", "bob")
    run(cli, "memory", "import", str(tmp_path / "alice.jsonl"), "--user", "bob")  # ids kept: no duplicates
    assert [r["text"] for r in json.loads(run(cli, "memory", "list", "--user", "bob", "--json"))] == [
        "I work on PostgreSQL 15"
    ]
    (tmp_path / "bad.jsonl").write_text(exported + "not json\n")
    result = cli.invoke(app, ["memory", "import", str(tmp_path / "bad.jsonl"), "--user", "carol"])
    assert isinstance(result.exception, MemoryStoreError) and "Line 2" in str(result.exception)
    assert json.loads(run(cli, "memory", "list", "--user", "carol", "--json")) == []  # nothing half-imported


def test_errors_are_clean_messages(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", "memory", "forget", "nope", "--user", "alice"],
        env={**os.environ, "RAGLOOP_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: No memory 'nope' for user 'alice': see `ragloop memory list`." in done.stderr
