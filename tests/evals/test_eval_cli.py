"""`ragloop eval run / compare` end to end through the real CLI, the real store and the project's model server
(its model-free echo engine: deterministic answers that cite every kept source, judge output that never parses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from evals_support import ECHO_MODEL, RAGLOOP, REPO, SMALL_MODEL, no_nan_anywhere, ok, ragloop, write_tiny_suite

# slow: a real store and model server per session; on a loaded 2-core machine a run takes minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ONE_CONFIG = "matrix:\n  - {name: plain, pipeline: plain}\n"

REPORT_FILES = ("records.jsonl", "summary.json", "report.md", "report.html")


def run(
    home: Path, suite: Path, out: Path, url: str, *extra: str, model: str = ECHO_MODEL
) -> subprocess.CompletedProcess[str]:
    return ragloop(home, "eval", "run", str(suite), "--out", str(out), "--model-url", url, "--model", model, *extra)


def answer_files(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((out / "cache" / "answers").rglob("*.json"))}


def test_run_writes_every_report_file_then_resumes_without_redoing(
    eval_home: Path, echo_url: str, tiny_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    summary = json.loads(ok(run(eval_home, tiny_suite, out, echo_url, "--json")).stdout)
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    no_nan_anywhere(out)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted((r["config"], r["id"]) for r in records) == sorted(
        (c, i) for c in ("plain", "full") for i in ("a01", "a04", "u01")
    )
    a01 = next(r for r in records if r["config"] == "plain" and r["id"] == "a01")
    # the echo engine's answer is its instructions and the question: a measured wrong answer (no key fact), and
    # the correctness judge either scored it or recorded why it could not: never silently dropped
    assert a01["metrics"]["key_fact_accuracy"] == 0.0
    assert "correctness" in a01["metrics"] or a01["unmeasured"].get("correctness")
    assert len(a01["contexts"]) == len(a01["citations"])
    assert a01["metrics"]["recall@k"] == 1.0 and a01["ranking"][0] == "hybrid-search.md"
    a04 = next(r for r in records if r["config"] == "plain" and r["id"] == "a04")
    assert set(a04["verdicts"]) == {"faithfulness", "relevance", "correctness"}
    plain = summary["configs"]["plain"]["metrics"]
    assert plain["abstention_accuracy"]["mean"] == 1.0  # nothing like the capital of Australia in the corpus
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "http://" not in html and "https://" not in html
    share = summary["timing"]["harness_overhead_share"]
    assert 0 <= share < 1

    before = answer_files(out)
    again = ok(run(eval_home, tiny_suite, out, echo_url, "--json"))
    assert "all 3 answers cached" in again.stderr
    assert answer_files(out) == before
    total = json.loads(again.stdout)["timing"]
    assert total["invocations"] == 2 and total["model_and_retrieval_seconds"]["agent"] > 0  # added up over both
    latest = max((out / "timing").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    second = json.loads(latest.read_text())["model_and_retrieval_seconds"]
    assert "agent" not in second and "judge" not in second  # the resumed invocation asked and judged nothing


def test_fail_under_gates(eval_home: Path, echo_url: str, tmp_path: Path) -> None:
    tiny_suite = write_tiny_suite(tmp_path, matrix=ONE_CONFIG)
    out = tmp_path / "run"
    ok(run(eval_home, tiny_suite, out, echo_url, "--fail-under", "recall@k=0.5", "--fail-under", "wrong_abstention=0"))
    below = run(eval_home, tiny_suite, out, echo_url, "--fail-under", "abstention_accuracy=1.5")
    assert below.returncode == 1
    assert "fail-under: plain: abstention_accuracy = 1.0000 is below 1.5" in below.stderr
    unmeasured = run(eval_home, tiny_suite, out, echo_url, "--fail-under", "faithfulness=0.1")
    # the echo answers are non-answers: faithfulness applies to none of them, and a gate on it never passes
    assert unmeasured.returncode == 1 and "fail-under: plain: faithfulness not" in unmeasured.stderr
    bad = run(eval_home, tiny_suite, out, echo_url, "--fail-under", "key_fact_accuracy")
    assert bad.returncode == 2 and "METRIC=VALUE" in bad.stderr and "Traceback" not in bad.stderr


def test_compare_two_runs(eval_home: Path, echo_url: str, tmp_path: Path) -> None:
    tiny_suite = write_tiny_suite(tmp_path, matrix=ONE_CONFIG)
    a, b = tmp_path / "a", tmp_path / "b"
    ok(run(eval_home, tiny_suite, a, echo_url))
    ok(run(eval_home, tiny_suite, b, echo_url, "--limit", "2"))
    result = json.loads(ok(ragloop(eval_home, "eval", "compare", str(a), str(b), "--json")).stdout)
    assert [(Path(c["a"]).name, Path(c["b"]).name) for c in result["comparisons"]] == [("a:plain", "b:plain")]
    kf = result["comparisons"][0]["metrics"]["key_fact_accuracy"]
    assert kf["n"] == 2 and kf["delta"] == 0.0 and not kf["significant"]  # deterministic echo: same answers
    assert result["comparisons"][0]["metrics"]["abstention_accuracy"]["n"] == 0  # u01 only in run a
    within = json.loads(ok(ragloop(eval_home, "eval", "compare", f"{a}:plain", f"{b}:plain", "--json")).stdout)
    assert set(within["comparisons"][0]["metrics"]) >= {"recall@k", "key_fact_accuracy", "seconds"}
    text = ok(ragloop(eval_home, "eval", "compare", str(a), str(b))).stdout
    assert "B - A" in text and "key_fact_accuracy" in text
    missing = ragloop(eval_home, "eval", "compare", str(a), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "records.jsonl" in missing.stderr


def test_resume_after_sigkill_mid_item_redoes_nothing_finished(
    eval_home: Path, slow_echo_url: str, tmp_path: Path
) -> None:
    suite = write_tiny_suite(tmp_path, matrix=ONE_CONFIG)
    out = tmp_path / "run"
    args = [*RAGLOOP, "eval", "run", str(suite), "--out", str(out), "--model-url", slow_echo_url, "--model", ECHO_MODEL]
    env = {**os.environ, "RAGLOOP_HOME": str(eval_home)}
    process = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        while not answer_files(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)  # into the next item: the echo engine streams one word every 50 ms (a quote: ~1 s an item)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    finished = answer_files(out)
    assert 1 <= len(finished) < 3
    assert not list((out / "cache").rglob("*.tmp*")) or True  # a partial temporary file may remain; it is never read
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    done = ok(
        ragloop(
            eval_home, "eval", "run", str(suite), "--out", str(out), "--model-url", slow_echo_url, "--model", ECHO_MODEL
        )
    )
    after = answer_files(out)
    assert len(after) == 3
    for path, content in finished.items():
        assert after[path] == content and path.stat().st_mtime_ns == mtimes[path]
    assert "answers plain: 100%|" in done.stderr or "answers plain" in done.stderr
    records = (out / "records.jsonl").read_text().splitlines()
    assert len(records) == 3


def test_bad_suite_is_a_clean_error(eval_home: Path, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("name: t\ndataset: missing.jsonl\n")
    done = ragloop(eval_home, "eval", "run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "missing.jsonl not found" in done.stderr and "Traceback" not in done.stderr


def test_beir_directory_as_retrieval_only_suite(eval_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "beir"
    summary = json.loads(
        ok(ragloop(eval_home, "eval", "run", "retrieval/data/minibeir", "--out", str(out), "--json")).stdout
    )
    for name in REPORT_FILES:
        assert (out / name).is_file()
    no_nan_anywhere(out)
    for config in ("dense", "hybrid"):
        metrics = summary["configs"][config]["metrics"]
        assert 0 < metrics["ndcg@5"]["mean"] <= 1 and metrics["ndcg@5"]["unmeasured"] == 0


def test_real_small_model_end_to_end(eval_home: Path, tmp_path: Path) -> None:
    """The real llama.cpp backend (smollm2-135m) answering and judging a two-item suite: every report file."""
    from local_models.serve import serve

    suite = write_tiny_suite(tmp_path, matrix=ONE_CONFIG)
    out = tmp_path / "run"
    with serve(SMALL_MODEL, n_ctx=4096) as url:
        summary = json.loads(ok(run(eval_home, suite, out, url, "--limit", "2", "--json", model=SMALL_MODEL)).stdout)
    for name in REPORT_FILES:
        assert (out / name).is_file()
    no_nan_anywhere(out)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        assert record["answer"].strip()
        for criterion in ("faithfulness", "relevance", "correctness"):
            verdict = record["verdicts"][criterion]
            assert verdict["passed"] in (True, False) or verdict["reason"]  # measured, or unmeasured with a reason
            assert (criterion in record["metrics"]) != (criterion in record["unmeasured"]) or verdict["reason"] in (
                "the agent abstained",
            )
    assert summary["configs"]["plain"]["latency"]["p50_seconds"] > 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_report_renders_in_headless_chromium(eval_home: Path, echo_url: str, tmp_path: Path) -> None:
    tiny_suite = write_tiny_suite(tmp_path, matrix=ONE_CONFIG)
    out = tmp_path / "run"
    ok(run(eval_home, tiny_suite, out, echo_url))
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page with tables and charts, not a blank one
