"""Helpers of the harness tests: the real `ragloop` entry point in a subprocess, a tiny suite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("ragloop")
RAGLOOP = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from agent.cli import main; main()"]
ECHO_MODEL = "echo"
SMALL_MODEL = "smollm2-135m"

ITEMS = [
    {
        "id": "a01",
        "question": "What value of the constant k is commonly used in reciprocal rank fusion?",
        "reference": "k = 60.",
        "answerable": True,
        "gold_sources": ["hybrid-search.md", "ragloop-retrieval.md"],
        "key_facts": ["60"],
    },
    {
        "id": "a04",
        "question": "For which information retrieval system was BM25 originally developed?",
        "reference": "The Okapi system.",
        "answerable": True,
        "gold_sources": ["bm25.md"],
        "key_facts": ["Okapi"],
    },
    {"id": "u01", "question": "What is the capital of Australia?", "answerable": False},
]


def write_tiny_suite(directory: Path, items: list[dict[str, Any]] | None = None, matrix: str | None = None) -> Path:
    (directory / "q.jsonl").write_text("".join(json.dumps(i) + "\n" for i in (items or ITEMS)))
    suite = directory / "suite.yaml"
    suite.write_text(
        "name: tiny\ndataset: q.jsonl\ncorpus: demo\ncollection: eval-tiny\nseed: 3\n"
        "defaults: {reflect: false}\n"
        + (matrix or "matrix:\n  - {name: plain, pipeline: plain}\n  - {name: full, search_mode: dense}\n")
    )
    return suite


def ragloop(
    home: Path, *args: str, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAGLOOP, *args],
        cwd=REPO,
        env={**os.environ, "RAGLOOP_HOME": str(home), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


_EMBEDDED_IMAGE = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")
_NON_FINITE = re.compile(r"\b(NaN|Infinity)\b")


def no_nan_anywhere(run_dir: Path) -> None:
    """No NaN or Infinity in any report; embedded chart images are base64, where those letters occur by chance."""
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".html"):
            text = _EMBEDDED_IMAGE.sub("data:image", path.read_text(encoding="utf-8"))
            found = _NON_FINITE.search(text)
            assert found is None, f"{path}: {text[max(0, found.start() - 80) : found.end() + 80] if found else ''}"
