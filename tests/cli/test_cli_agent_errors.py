"""User errors of the agent commands: a clean `error: ...` line, exit status 2, no traceback, no model started."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import ragloop


def assert_clean_error(done: object, *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)  # type: ignore[attr-defined]
    err: str = done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err, err
    assert "starting local model" not in err, "a model was started before the error was found"
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_missing_collection(tmp_path: Path, command: str) -> None:
    args = ["ask", "What is BM25?"] if command == "ask" else ["chat"]
    done = ragloop(tmp_path, *args, "--collection", "nosuch", stdin="" if command == "chat" else None)
    assert_clean_error(done, "error: Collection 'nosuch' does not exist", "ragloop ingest")
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ask", "What is BM25?", "--bogus"], "No such option: --bogus"),
        (["ask"], "Missing argument"),
        (["ask", "   "], "the question is empty"),
        (["ask", "q", "--budget-seconds", "0"], "--budget-seconds"),
        (["chat", "--verbose=maybe"], "--verbose"),
        (["demo", "--nope"], "No such option: --nope"),
        (["bench", "agent", "--configs", "plain,fancy"], "unknown configuration(s) fancy"),
        (["bench", "agent", "--limit", "0"], "--limit"),
    ],
)
def test_bad_flags(tmp_path: Path, args: list[str], needle: str) -> None:
    assert_clean_error(ragloop(tmp_path, *args), needle)


def test_bench_agent_missing_question_set(tmp_path: Path) -> None:
    done = ragloop(tmp_path, "bench", "agent", "--questions", str(tmp_path / "none.jsonl"))
    assert_clean_error(done, "error: Question set", "none.jsonl not found")


def test_bench_agent_malformed_question_set(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "Q?", "gold_sources": ["x.md"], "key_facts": ["y"]}\n{"id": 2\n')
    done = ragloop(tmp_path, "bench", "agent", "--questions", str(questions))
    assert_clean_error(done, f"error: {questions}:2: not a question record")


def test_invalid_settings_file(tmp_path: Path) -> None:
    (tmp_path / "ragloop.toml").write_text('[retrieval]\ncolection = "typo"\n')
    assert_clean_error(ragloop(tmp_path, "ask", "What is BM25?"), "error: invalid settings", "colection")
    (tmp_path / "ragloop.toml").write_text('collection = "docs"\n')  # the flat layout of earlier versions
    assert_clean_error(ragloop(tmp_path, "ask", "What is BM25?"), "belongs in the [retrieval] table")
