"""A CLI command waits for another process that holds the embedded store for a moment (e.g. `ragloop mcp`
during a call) instead of failing at once; past `--lock-wait` it fails with the store-locked message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from cli_helpers import json_out, ragloop


def _hold_store(home: Path, seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import sys, time
        from retrieval.store import open_store
        with open_store({str(home)!r}):
            print("locked", flush=True)
            time.sleep({seconds})
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_cli_waits_for_the_store_then_runs(tmp_path: Path) -> None:
    holder = _hold_store(tmp_path, 25)  # longer than the command takes to start on a loaded machine
    try:
        done = ragloop(tmp_path, "collections", "list", "--json", "--lock-wait", "120")
        assert json_out(done) == []
        assert "waiting up to 120 s for another ragloop process" in done.stderr
    finally:
        holder.wait(timeout=60)
        holder.stdout.close()  # type: ignore[union-attr]


def test_cli_gives_up_after_lock_wait_with_a_clear_message(tmp_path: Path) -> None:
    holder = _hold_store(tmp_path, 60)
    try:
        done = ragloop(tmp_path, "collections", "list", "--lock-wait", "2")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "Another ragloop process holds the embedded store" in done.stderr
    finally:
        holder.kill()  # while it still holds the store: the command above gave up, it did not outwait it
        holder.wait(timeout=60)
        holder.stdout.close()  # type: ignore[union-attr]
