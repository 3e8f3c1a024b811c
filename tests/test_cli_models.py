"""`ragloop models …` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RAGLOOP = str(Path(sys.executable).with_name("ragloop"))


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGLOOP_HOME": str(home)}
    return subprocess.run([RAGLOOP, *args], capture_output=True, text=True, env=env, timeout=120)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run("--help", home=tmp_path)
    assert result.returncode == 0
    for command in ("models", "serve-model", "bench"):
        assert command in result.stdout


def test_help_imports_nothing_heavy() -> None:
    heavy = "{'llama_cpp', 'torch', 'chromadb', 'sentence_transformers', 'langgraph', 'fastapi'}"
    code = f"import sys, agent.cli; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_list_json(tmp_path: Path) -> None:
    result = run("models", "list", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "gemma3-270m"} <= set(rows)
    assert rows["smollm2-135m"]["present"] is True
    assert rows["qwen2.5-coder-1.5b"]["kind"] == "chat" and rows["qwen2.5-coder-1.5b"]["size_mb"] == 1117.3
    assert rows["gemma3-270m"]["kind"] == "completion"
    assert all(row["kind"] in ("chat", "completion", "embedding") for row in rows.values())
    assert rows["gemma3-270m"]["chat_template"] is False
    assert rows["qwen2.5-coder-0.5b"]["tool_calls"] == "native"


def test_models_list_table(tmp_path: Path) -> None:
    result = run("models", "list", home=tmp_path)
    assert result.returncode == 0
    assert "smollm2-135m" in result.stdout and "Q4_1" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("qwen2.5-coder-1.5b "))
    assert line.split()[1:3] == ["chat", "1117.3MB"]


def test_models_path_prints_the_file(tmp_path: Path) -> None:
    result = run("models", "path", "smollm2-135m", home=tmp_path)
    assert result.returncode == 0
    assert Path(result.stdout.strip()).is_file()


@pytest.mark.parametrize("name", ["no-such-model", "/nowhere/model.gguf"])
def test_bad_model_is_a_clean_error(tmp_path: Path, name: str) -> None:
    result = run("models", "path", name, home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
