"""`ragloop bench agent` on a two-question set: both configurations, the records file, the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import ECHO_MODEL, json_out, model_flags, ok, ragloop

pytestmark = pytest.mark.slow


def write_questions(path: Path) -> Path:
    rows = [
        {
            "id": "a1",
            "question": "What value of the constant k is commonly used in reciprocal rank fusion?",
            "answerable": True,
            "gold_sources": ["hybrid-search.md", "ragloop-retrieval.md"],
            "key_facts": ["60"],
        },
        {"id": "u1", "question": "What is the capital of Australia?", "answerable": False},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_bench_agent_json_and_records(demo_home: Path, echo_model_url: str, tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    report = json_out(
        ragloop(
            demo_home,
            "bench",
            "agent",
            "--questions",
            str(write_questions(tmp_path / "q.jsonl")),
            "--out",
            str(records),
            "--json",
            *model_flags(echo_model_url, ECHO_MODEL),
        )
    )
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert [(r["config"], r["id"]) for r in rows] == [("plain", "a1"), ("full", "a1"), ("plain", "u1"), ("full", "u1")]
    assert report["results"] == rows
    for name in ("plain", "full"):
        summary = report["summary"][name]
        assert (summary["answerable"], summary["unanswerable"]) == (1, 1)
        assert summary["abstention_unanswerable"] == 1.0  # nothing similar in the corpus: both abstain
        answerable = next(r for r in rows if r["config"] == name and r["id"] == "a1")
        # the echo engine's "answer" quotes the first sentence of source [1], with its citation
        assert answerable["cited"] > 0 and answerable["answer"].endswith("[1].")
        # each record says what every step did, so a failure can be read from the records alone
        assert answerable["route"] == "documents"
        assert any(line.startswith("generate (") for line in answerable["trace"])  # with its seconds and tokens
        assert summary["citation_precision"] == pytest.approx(answerable["cited_gold"] / answerable["cited"], abs=1e-4)
        assert summary["p50_seconds"] > 0 and set(summary["mean_seconds_split"]) == {
            "prompt",
            "generation",
            "retrieval",
            "judge",
            "other",
        }
    plain = next(r for r in rows if r["config"] == "plain" and r["id"] == "a1")
    assert plain["in_loop_grounded"] is None and plain["retries"] == 0  # the baseline has no reflection


def test_bench_agent_table(demo_home: Path, echo_model_url: str, tmp_path: Path) -> None:
    done = ok(
        ragloop(
            demo_home,
            "bench",
            "agent",
            "--questions",
            str(write_questions(tmp_path / "q.jsonl")),
            "--configs",
            "full",
            "--limit",
            "1",
            *model_flags(echo_model_url, ECHO_MODEL),
        )
    )
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "full"]
    assert any(line.startswith("key-fact accuracy (all facts)") and line.endswith("0%") for line in lines)
    assert any(line.startswith("questions (answerable + unanswerable)") and line.endswith("1 + 0") for line in lines)


def test_bench_agent_resumes_without_asking_again(demo_home: Path, echo_model_url: str, tmp_path: Path) -> None:
    questions = str(write_questions(tmp_path / "q.jsonl"))
    records = tmp_path / "records.jsonl"
    flags = ["--questions", questions, "--configs", "plain", "--out", str(records), "--no-eval-judge", "--json"]
    first = json_out(
        ragloop(demo_home, "bench", "agent", *flags, "--limit", "1", *model_flags(echo_model_url, ECHO_MODEL))
    )
    assert [r["id"] for r in first["results"]] == ["a1"]
    assert first["results"][0]["grounded"] is None  # --no-eval-judge: no post-hoc judge call
    kept = records.read_text()
    with records.open("a") as f:  # a run killed in mid-write leaves half a record behind
        f.write('{"config": "plain", "id": "u1", "ans')
    second = ragloop(demo_home, "bench", "agent", *flags, "--resume", *model_flags(echo_model_url, ECHO_MODEL))
    report = json_out(second)
    assert "(1 kept)" in second.stderr
    assert [r["id"] for r in report["results"]] == ["a1", "u1"]
    assert report["results"][0] == json.loads(kept)  # kept as it was, not asked again
    assert records.read_text().startswith(kept) and len(records.read_text().splitlines()) == 2


def test_bench_agent_refuses_an_empty_collection(demo_home: Path, echo_model_url: str, tmp_path: Path) -> None:
    done = ragloop(
        demo_home,
        "bench",
        "agent",
        "--questions",
        str(write_questions(tmp_path / "q.jsonl")),
        "-c",
        "never-ingested",
        *model_flags(echo_model_url, ECHO_MODEL),
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "never-ingested" in done.stderr and "ragloop ingest PATH" in done.stderr
