"""`ragloop bench model` runs end to end and reports every scenario (structure only: no speed thresholds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RAGLOOP = str(Path(sys.executable).with_name("ragloop"))


@pytest.mark.slow
def test_bench_model_reports_every_ratio(tmp_path: Path) -> None:
    args = ["bench", "model", "--model", "smollm2-135m", "--runs", "1", "--max-tokens", "16", "--n-ctx", "2048"]
    result = subprocess.run(
        [RAGLOOP, *args, "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "RAGLOOP_HOME": str(tmp_path)},
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["model"] == "smollm2-135m" and report["runs"] == 1
    scenarios = {(row["scenario"], row["metric"]) for row in report["rows"]}
    assert len(scenarios) == 7
    assert {name for name, _ in scenarios} >= {
        "server vs direct llama-cpp-python",
        "server vs llama_cpp.server (peer)",
        "2nd turn: prefix reuse vs none",
        "JSON output (schema) vs direct",
    }
    for row in report["rows"]:
        assert row["ours"] > 0 and row["reference"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["reference"])
    assert any("prompt-lookup output identical" in note for note in report["notes"])
    assert any(note.startswith("JSON output identical") for note in report["notes"])
