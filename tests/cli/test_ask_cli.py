"""`ragloop ask` in a subprocess against the project's real model server: smollm2-135m for the real model
path, and the server's model-free echo engine where the assertion needs the model to behave (citations)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import (
    ECHO_MODEL,
    assert_citations_resolve,
    json_out,
    model_flags,
    ok,
    ragloop,
    step,
)

from agent.prompts import ABSTAIN_ANSWER

pytestmark = pytest.mark.slow

ANSWER_KEYS = {"answer", "citations", "verdicts", "steps", "retries", "skipped", "tokens", "timings", "thread_id"}
OFF_TOPIC = "What is the capital of Australia?"


def test_ask_json_with_the_small_model(demo_home: Path, small_model_url: str) -> None:
    answer = json_out(
        ragloop(
            demo_home,
            "ask",
            "How does reciprocal rank fusion merge rankings?",
            "-c",
            "demo",
            "--json",
            *model_flags(small_model_url),
        )
    )
    assert set(answer) >= ANSWER_KEYS and answer["collection"] == "demo"
    nodes = [s["node"] for s in answer["steps"]]
    assert nodes[0] == "load_context" and nodes[-1] == "save"
    assert answer["tokens"]["total"] > 0 and answer["timings"]["total"] > 0
    if answer["route"] == "documents":
        assert "retrieval" in answer["timings"]
        assert "hit(s)" in step(answer, "retrieve")["summary"]
    assert_citations_resolve(demo_home, "demo", answer)  # whatever the small model cited is real


def test_ask_citations_resolve_to_stored_chunks(demo_home: Path, echo_model_url: str) -> None:
    answer = json_out(
        ragloop(
            demo_home,
            "ask",
            "What value of k does reciprocal rank fusion use?",
            "-c",
            "demo",
            "--json",
            *model_flags(echo_model_url, ECHO_MODEL),
        )
    )
    assert answer["route"] == "documents"  # the echo cannot route: the documented fallback
    assert answer["citations"], answer["answer"]
    assert_citations_resolve(demo_home, "demo", answer)
    assert any(c["source"].endswith("hybrid-search.md") for c in answer["citations"])


def test_off_topic_question_abstains(demo_home: Path, echo_model_url: str) -> None:
    """Nothing in the corpus is similar to the question: the grader drops every hit and the agent says so
    without asking the model (so this holds whatever the model would have answered)."""
    answer = json_out(
        ragloop(demo_home, "ask", OFF_TOPIC, "-c", "demo", "--json", *model_flags(echo_model_url, ECHO_MODEL))
    )
    assert answer["abstained"] is True
    assert answer["answer"] == ABSTAIN_ANSWER and answer["citations"] == []
    assert step(answer, "grade")["summary"].startswith("kept 0/")
    assert step(answer, "generate")["prompt_tokens"] == 0


def test_off_topic_question_with_the_small_model(demo_home: Path, small_model_url: str) -> None:
    answer = json_out(ragloop(demo_home, "ask", OFF_TOPIC, "-c", "demo", "--json", *model_flags(small_model_url)))
    assert answer["citations"] == []
    if answer["route"] == "documents":  # the small model may route it elsewhere (chit-chat): no sources either way
        assert answer["abstained"] is True and answer["answer"] == ABSTAIN_ANSWER
        assert step(answer, "grade")["summary"].startswith("kept 0/")


def test_text_output_streams_answer_then_sources(demo_home: Path, echo_model_url: str) -> None:
    done = ok(ragloop(demo_home, "ask", "What is BM25?", "-c", "demo", *model_flags(echo_model_url, ECHO_MODEL)))
    answer, _, footer = done.stdout.partition("\nSources:\n")
    assert answer.strip().endswith("[1].")  # the echo engine quotes source [1] for an answer prompt
    lines = [line.strip() for line in footer.splitlines() if line.strip()]
    assert lines and lines[0].startswith("[1] ")
    assert any("bm25.md" in line for line in lines)
    assert "thread " in done.stderr


def test_thread_resumes_in_a_new_process(demo_home: Path, echo_model_url: str) -> None:
    from agent.run import Agent, AgentDeps
    from agent.testing import ScriptedChatClient

    flags = ["-c", "demo", "--json", *model_flags(echo_model_url, ECHO_MODEL)]
    first = json_out(ragloop(demo_home, "ask", "What is BM25?", *flags))
    second = json_out(ragloop(demo_home, "ask", "Who developed it?", "--thread", first["thread_id"], *flags))
    assert second["thread_id"] == first["thread_id"]
    assert "1 earlier turn(s)" in step(second, "load_context")["summary"]
    with Agent(AgentDeps(chat=ScriptedChatClient([])), home=demo_home) as agent:
        turns = agent.turns(first["thread_id"])
    assert [t["question"] for t in turns] == ["What is BM25?", "Who developed it?"]


def test_unreachable_model_server_is_a_clean_error(demo_home: Path) -> None:
    done = ragloop(demo_home, "ask", "What is BM25?", "-c", "demo", "--model-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2, done.stderr
    assert "error: Cannot reach the model server at http://127.0.0.1:9/v1" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_judge_model_is_asked_for_by_name(demo_home: Path, echo_model_url: str) -> None:
    """--judge-model other than the chat model: the reflection call asks the endpoint for that model (which the
    echo server does not serve: a clean error naming it, after the answer was generated)."""
    done = ragloop(
        demo_home,
        "ask",
        "What is BM25?",
        "-c",
        "demo",
        "--json",
        "--judge-model",
        "no-such-judge",
        "--no-judge-skip",  # the quoted answer is strong evidence: the judge would not be asked
        *model_flags(echo_model_url, ECHO_MODEL),
    )
    assert done.returncode == 2, done.stderr
    assert "no-such-judge" in done.stderr and "Traceback" not in done.stderr
