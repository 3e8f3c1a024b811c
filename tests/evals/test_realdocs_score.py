"""Issue #12's answer metrics over bench records: malformed-answer detection and the per-half summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.devset import DevQuestion, DevSetError
from evals.realdocs import main
from evals.realdocs_score import malformed_reason, read_records, report, table

QUESTIONS = [
    DevQuestion("a1", "How do I turn on WAL?", True, "easy", "tune", "r", ("wal.html",), (("journal_mode=WAL",),)),
    DevQuestion("a2", "Max columns?", True, "easy", "check", "r", ("limits.html",), (("2000", "2,000"),)),
    DevQuestion("u1", "Django settings?", False, "medium", "tune", "r"),
]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ('{"name": "calculator", "arguments": {"expression": "2 + 3 * 4"}}', "tool call"),
        ('<tool_call>\n{"name": "current_time", "arguments": {}}\n</tool_call>', "tool call"),
        ('["PRAGMA journal_mode=WAL"]', "JSON"),
        ("[1] git-clean(1) Manual Page | NAME | git-clean - Remove untracked files", "pasted source"),
        ("Small. Fast. Reliable.\n\nChoose any three.\n\nHome\n\nMenu", "pasted source"),
        ("NAME\n    sqlite3\nSYNOPSIS\n    sqlite3 [OPTIONS] FILE", "pasted source"),
        ("The direct answer first, then the command or option, with [1] citations: [1] [1] [1]", "echoed prompt"),
        ("The reviewer rejected your previous answer: Your reply copied the sources.", "echoed prompt"),
        ("The direct answer is: [1] The number of columns\n\nThe command or option is: [1] SELECT", "echoed prompt"),
        ("Run PRAGMA journal_mode=WAL; once: the setting persists [1].", None),
        ("The direct answer depends on the journal mode [1], [2], [3].", None),
        ("Use {braces} in printf() formats such as %d [2].", None),
    ],
)
def test_malformed_reason(answer: str, reason: str | None) -> None:
    assert malformed_reason(answer) == reason


def _records(path: Path, rows: list[dict[str, object]]) -> Path:
    base = {"abstained": False, "failed": False, "cited_gold": 0, "seconds": 1.0, "error": None}
    path.write_text("".join(json.dumps({**base, **row}) + "\n" for row in rows), encoding="utf-8")
    return path


def test_report_per_config_and_half(tmp_path: Path) -> None:
    path = _records(
        tmp_path / "records.jsonl",
        [
            {"config": "plain", "id": "a1", "answer": "Set journal_mode = WAL.", "cited_gold": 1, "seconds": 4.0},
            {"config": "full", "id": "a1", "answer": "PRAGMA journal_mode=WAL [1]", "cited_gold": 1, "seconds": 8},
            {"config": "plain", "id": "a2", "answer": "I couldn't find this.", "abstained": True, "seconds": 2.0},
            {"config": "full", "id": "a2", "answer": "2,000 by default [1]", "cited_gold": 0, "seconds": 6.0},
            {"config": "plain", "id": "u1", "answer": '{"name": "calculator", "arguments": {}}', "seconds": 3.0},
            {"config": "full", "id": "u1", "answer": "Not in the documents.", "abstained": True, "seconds": 1.0},
        ],
    )
    summary = report(read_records(path, QUESTIONS))
    plain, full = summary["plain"], summary["full"]
    assert plain["all"]["fact_and_gold_citation"] == 0  # "journal_mode = WAL" is not the key fact's spelling
    assert plain["all"]["wrong_abstention"] == 1 and plain["all"]["malformed"] == 1
    assert plain["all"]["abstained_unanswerable"] == 0
    assert full["all"]["fact_and_gold_citation"] == 1 and full["all"]["all_facts"] == 2  # a2: fact, no gold cite
    assert full["all"]["abstained_unanswerable"] == 1 and full["all"]["malformed"] == 0
    assert full["tune"]["questions"] == 2 and full["check"]["questions"] == 1
    assert plain["all"]["p50_seconds"] == 3.0
    assert "fact + gold citation" in table(summary) and "1/2 (50%)" in table(summary)


def test_only_questions_every_config_answered_are_compared(tmp_path: Path) -> None:
    path = _records(
        tmp_path / "records.jsonl",
        [
            {"config": "plain", "id": "a1", "answer": "journal_mode=WAL", "cited_gold": 1},
            {"config": "full", "id": "a1", "answer": "journal_mode=WAL", "cited_gold": 1},
            {"config": "plain", "id": "a2", "answer": "2000", "cited_gold": 1},  # full did not get there
        ],
    )
    summary = report(read_records(path, QUESTIONS))
    assert summary["plain"]["all"]["questions"] == summary["full"]["all"]["questions"] == 1


def test_bad_records_are_errors_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _records(tmp_path / "records.jsonl", [{"config": "plain", "id": "zz", "answer": "?"}])
    with pytest.raises(DevSetError, match=r"records\.jsonl:1: not a bench record"):
        read_records(path, QUESTIONS)
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    assert "ragloop bench agent --out" in capsys.readouterr().err
