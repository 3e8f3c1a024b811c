"""Helpers of the CLI tests: run the real `ragloop` entry point in a subprocess, look chunks up in the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("ragloop")  # the installed entry point, as users run it
RAGLOOP = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from agent.cli import main; main()"]
SMALL_MODEL = "smollm2-135m"
ECHO_MODEL = "echo"  # served by the model-free scripted engine


def ragloop(
    home: Path, *args: str, stdin: str | None = None, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`ragloop ARGS` with RAGLOOP_HOME=home; stdout and stderr captured as text."""
    return subprocess.run(
        [*RAGLOOP, *args],
        cwd=REPO,
        env={**os.environ, "RAGLOOP_HOME": str(home), **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def json_out(done: subprocess.CompletedProcess[str]) -> Any:
    """stdout must be exactly one JSON document (progress goes to stderr)."""
    return json.loads(ok(done).stdout)


def model_flags(url: str, model: str = SMALL_MODEL) -> list[str]:
    return ["--model-url", url, "--model", model]


def assert_citations_resolve(home: Path, collection: str, answer: dict[str, Any]) -> None:
    """Every citation names a stored chunk: same source, title and heading path; the quote is its text."""
    citations = answer["citations"]
    stored = chunks_by_id(home, collection, [c["chunk_id"] for c in citations])
    for c in citations:
        assert c["chunk_id"] in stored, f"citation [{c['n']}] names chunk {c['chunk_id']}, not in the store"
        chunk = stored[c["chunk_id"]]
        assert (c["source"], c["title"], c["heading_path"], c["page"]) == (
            chunk.source,
            chunk.title,
            list(chunk.heading_path),
            chunk.page,
        )
        assert " ".join(chunk.text.split()).startswith(c["quote"].removesuffix("…"))
        assert f"[{c['n']}]" in answer["answer"] or f"{c['n']}]" in answer["answer"]


def step(answer: dict[str, Any], node: str) -> dict[str, Any]:
    """The last trace step of `node` (fails when the node did not run)."""
    found = [s for s in answer["steps"] if s["node"] == node]
    assert found, f"no {node} step in {[s['node'] for s in answer['steps']]}"
    return found[-1]


def chunks_by_id(home: Path, collection: str, ids: list[str]) -> dict[str, Any]:
    """The stored chunks with these ids (the store is opened and closed here: one process at a time)."""
    from retrieval.store import open_store

    with open_store(home) as store:
        return {chunk.id: chunk for chunk in store.get_collection(collection).get(ids)}
