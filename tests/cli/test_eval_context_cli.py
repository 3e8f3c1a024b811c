"""`ragloop eval context` on the demo collection: context recall of the key facts, no model, per configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import REPO, json_out, ok, ragloop

pytestmark = pytest.mark.slow

QUESTIONS = REPO / "evals" / "data" / "demo" / "questions.jsonl"


def test_context_recall_per_configuration(demo_home: Path) -> None:
    report = json_out(
        ragloop(
            demo_home,
            "eval",
            "context",
            "-c",
            "demo",
            "--questions",
            str(QUESTIONS),
            "--config",
            "k=5",
            "--config",
            "k=1,source_tokens=16",
            "--json",
        )
    )
    wide, narrow = report["configs"]["k=5"], report["configs"]["k=1,source_tokens=16"]
    assert wide["questions"] == narrow["questions"] > 5
    # five whole chunks hold most key facts; one chunk cut to ~16 tokens holds fewer, in far fewer tokens
    assert wide["facts_in_context"] > narrow["facts_in_context"]
    assert wide["mean_sources"] > 4 and narrow["mean_sources"] == 1
    assert narrow["mean_context_tokens"] < wide["mean_context_tokens"] / 4
    assert set(narrow["missed"]) >= set(wide["missed"])


def test_a_bad_config_is_a_usage_error(demo_home: Path) -> None:
    done = ragloop(demo_home, "eval", "context", "-c", "demo", "--questions", str(QUESTIONS), "--config", "k=zero")
    assert done.returncode == 2 and "--config" in done.stderr and "Traceback" not in done.stderr
    table = ok(ragloop(demo_home, "eval", "context", "-c", "demo", "--questions", str(QUESTIONS), "--config", "k=3"))
    assert "facts in context" in table.stdout
