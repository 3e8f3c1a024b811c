"""`ragloop demo` end to end: the default path (the CLI starts the local model server itself), then a re-run
that embeds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import SMALL_MODEL, json_out, model_flags, ok, ragloop

pytestmark = pytest.mark.slow


def test_demo_ingests_then_answers_and_is_rerunnable(tmp_path: Path, small_model_url: str) -> None:
    home = tmp_path / "home"
    first = ragloop(home, "demo", "--json", "--model", SMALL_MODEL)  # no --model-url: the local server starts
    data = json_out(first)
    assert f"starting local model {SMALL_MODEL}…" in first.stderr and "ready in" in first.stderr
    assert data["collection"] == "demo"
    ingest = data["ingest"]
    assert ingest["added"] == ingest["total_documents"] >= 15 and ingest["chunks"] == ingest["total_chunks"] > 0
    assert data["answer"].strip() and data["steps"][-1]["node"] == "save"
    assert data["question"] == "How does reciprocal rank fusion combine the BM25 and dense search results?"

    again = ok(ragloop(home, "demo", "--question", "What is BM25?", *model_flags(small_model_url)))
    assert "0 added, 0 updated" in again.stderr and "; 0 chunks embedded" in again.stderr
    assert "Question: What is BM25?" in again.stdout
    assert "starting local model" not in again.stderr
