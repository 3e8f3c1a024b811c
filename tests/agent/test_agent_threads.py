"""Threads persist in <home>/threads.sqlite and resume by id, in this process and in a new one."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_support import AgentFactory, route_to, verdict

from agent.chat_client import Message, estimate_tokens
from agent.cli.render import run_summary, verdict_line
from agent.run import Agent, AgentDeps
from agent.state import LEAN_CITATION_KEYS
from agent.testing import ScriptedChatClient, call_kind

# A child process that asks one question in a thread with a scripted model which reports what the
# conversation it was sent contains; prints the answer as JSON.
CHILD = textwrap.dedent(
    """
    import json, sys
    from agent.run import Agent, AgentConfig, AgentDeps
    from agent.testing import ScriptedChatClient

    home, thread_id, question = sys.argv[1], sys.argv[2] or None, sys.argv[3]

    def reply(messages, request):
        earlier = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
        return "earlier: " + (" | ".join(earlier) or "nothing")

    deps = AgentDeps(chat=ScriptedChatClient(reply), config=AgentConfig(route=False))
    with Agent(deps, home=home) as agent:
        result = agent.ask(question, thread_id=thread_id)
        print(json.dumps({"thread_id": result.thread_id, "answer": result.answer,
                          "threads": [t.thread_id for t in agent.list_threads()]}))
    """
)


def run_child(home: Path, thread_id: str, question: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), thread_id, question],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def test_thread_resumes_in_a_new_process(tmp_path: Path) -> None:
    first = run_child(tmp_path, "", "My name is Ada.")
    assert first["answer"] == "earlier: nothing"
    assert (tmp_path / "threads.sqlite").is_file()
    second = run_child(tmp_path, str(first["thread_id"]), "What is my name?")
    assert second["thread_id"] == first["thread_id"]
    assert second["answer"] == "earlier: My name is Ada."
    other = run_child(tmp_path, "", "A new thread.")
    assert other["answer"] == "earlier: nothing"
    assert other["threads"] == [other["thread_id"], first["thread_id"]]  # most recent first


def test_list_turns_and_delete_threads(make_agent: AgentFactory, tmp_path: Path) -> None:
    agent, _ = make_agent(
        {
            "route": [route_to("direct"), route_to("direct"), route_to("documents")],
            "reply": ["Hi!", "Fine."],
            "answer": ["RRF sums reciprocal ranks [1]."],
            "judge": [verdict()],
        }
    )
    a = agent.ask("hello")
    agent.ask("how are you?", thread_id=a.thread_id)
    b = agent.ask("How does reciprocal rank fusion merge rankings?")
    infos = agent.list_threads()
    assert [(t.thread_id, t.turns, t.last_question) for t in infos] == [
        (b.thread_id, 1, "How does reciprocal rank fusion merge rankings?"),
        (a.thread_id, 2, "how are you?"),
    ]
    [turn] = agent.turns(b.thread_id)
    assert turn["citations"][0]["chunk_id"] == "rrf-1" and turn["route"] == "documents"
    assert agent.turns("no-such-thread") == []
    agent.delete_thread(a.thread_id)
    assert [t.thread_id for t in agent.list_threads()] == [b.thread_id]

    # another Agent on the same home sees the same threads
    with Agent(AgentDeps(chat=ScriptedChatClient()), home=tmp_path) as again:
        assert [t.thread_id for t in again.list_threads()] == [b.thread_id]


def summarizing_chat(answer: str = "ok", *, limit: int = 600) -> Callable[[list[Message], dict[str, Any]], Any]:
    """A scripted model: summaries merge the old summary with the folded user messages (clipped to `limit`
    characters around the middle, like a model bounded by max_tokens); every other call answers `answer`."""

    def reply(messages: list[Message], request: dict[str, Any]) -> Any:
        if call_kind(messages, request) == "summary":
            text = str(messages[-1]["content"])
            old = text.split("Summary so far:\n", 1)[1].split("\n\nNew turns:", 1)[0]
            said = [line[len("User: ") :] for line in text.splitlines() if line.startswith("User: ")]
            merged = "; ".join([*([] if old == "(none yet)" else [old]), *said])
            keep = limit // 2  # the oldest and the newest, like a summary that keeps what matters
            return {"summary": merged if len(merged) <= limit else merged[:keep] + " … " + merged[-keep:]}
        return answer

    return reply


def test_older_turns_fold_into_a_summary_shown_first(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(summarizing_chat(), route=False, retriever=None, history_turns=2)
    result = agent.ask("My name is Ada.")
    for q in ("q2", "q3", "q4", "q5", "q6"):
        agent.ask(q, thread_id=result.thread_id)
    # after 5 turns (> 2 x 2 unfolded), the 3 oldest folded: the summary request saw every one of them
    [summary_call] = [c for c in chat.calls if c.kind == "summary"]
    assert all(f"User: {q}" in summary_call.messages[-1]["content"] for q in ("My name is Ada.", "q2", "q3"))
    summary, summarized = agent.summary(result.thread_id)
    assert summarized == 3 and summary == "My name is Ada.; q2; q3"
    last = chat.calls[-1].messages
    assert last[1]["role"] == "system" and "My name is Ada." in last[1]["content"]
    assert [m["content"] for m in last[2:]] == ["q4", "ok", "q5", "ok", "q6"]
    assert len(agent.turns(result.thread_id)) == 6  # the thread keeps every turn; prompts get the summary


def test_unusable_summary_folds_nothing_and_is_retried(make_agent: AgentFactory) -> None:
    summaries = iter(["not json at all", '{"summary": "Ada asked q2 and q3."}'])

    def reply(messages: list[Message], request: dict[str, Any]) -> Any:
        return next(summaries) if call_kind(messages, request) == "summary" else "ok"

    agent, _ = make_agent(reply, route=False, retriever=None, history_turns=1)
    result = agent.ask("My name is Ada.")
    second = agent.ask("q2", thread_id=result.thread_id)
    third = agent.ask("q3", thread_id=result.thread_id)  # 3 unfolded > 2 x 1: fold, unusable output
    save = next(s for s in third.steps if s.node == "save")
    assert save.error and "unfolded" in save.error
    assert agent.summary(result.thread_id) == ("", 0)
    assert second.answer == "ok" and len(agent.turns(result.thread_id)) == 3
    agent.ask("q4", thread_id=result.thread_id)  # retried: now folds the three oldest
    assert agent.summary(result.thread_id) == ("Ada asked q2 and q3.", 3)


def test_300_turn_chat_never_exceeds_the_context(make_agent: AgentFactory) -> None:
    n_ctx = 2048
    # ~300 tokens per answer (distinct words: a loop is not an answer): the budget, not the turn count, binds
    long_answer = " ".join(f"w{i}" for i in range(300))
    agent, chat = make_agent(
        summarizing_chat(long_answer, limit=900), route=False, retriever=None, history_turns=3, answer_max_tokens=400
    )
    thread = agent.ask("My name is Ada and I work on PostgreSQL 15.").thread_id
    for i in range(1, 300):
        agent.ask(f"Question {i}: tell me more about topic {i}.", thread_id=thread)
    sizes = [estimate_tokens(" ".join(str(m.get("content") or "") for m in c.messages)) for c in chat.calls]
    worst = max(size + int(c.request["max_tokens"] or 0) for size, c in zip(sizes, chat.calls, strict=True))
    assert worst <= n_ctx, f"a prompt plus its answer budget reached {worst} tokens"
    # nothing the user said was dropped unsummarised: every message was in a summary request or is still shown
    folded = "\n".join(str(c.messages[-1]["content"]) for c in chat.calls if c.kind == "summary")
    shown = [m["content"] for m in chat.calls[-1].messages if m["role"] == "user"]
    questions = [t["question"] for t in agent.turns(thread)]
    assert len(questions) == 300
    assert all(f"User: {q}" in folded or q in shown for q in questions)
    assert "PostgreSQL 15" in str(chat.calls[-1].messages[1]["content"])  # the first fact lives on in the summary


def test_checkpoint_holds_only_the_lean_thread(make_agent: AgentFactory, tmp_path: Path) -> None:
    agent, _ = make_agent(
        {"route": [route_to("documents")], "answer": ["RRF sums reciprocal ranks [1]."], "judge": [verdict()]}
    )
    result = agent.ask("How does reciprocal rank fusion merge rankings?")
    assert result.citations[0].quote  # the answer itself still carries everything
    with sqlite3.connect(tmp_path / "threads.sqlite") as conn:
        blobs = b"".join(row[0] for row in conn.execute("SELECT checkpoint FROM checkpoints"))
        writes = conn.execute("SELECT DISTINCT channel FROM writes").fetchall()
        listing = conn.execute("SELECT thread_id, turns FROM ragloop_threads").fetchall()
    assert b"each document scores the sum" not in blobs  # no chunk text, no hits, no attempts
    assert not {row[0] for row in writes} & {"hits", "kept", "attempts", "trace", "history"}
    assert listing == [(result.thread_id, 1)]
    [turn] = agent.turns(result.thread_id)
    assert set(turn["citations"][0]) == set(LEAN_CITATION_KEYS)


def test_unparseable_judge_output_is_unjudged_not_a_pass(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {"route": [route_to("documents")], "answer": ["RRF sums reciprocal ranks [1]."], "judge": ["{not json"]}
    )
    result = agent.ask("How does reciprocal rank fusion merge rankings?")
    assert [v.status for v in result.verdicts] == ["unjudged", "unjudged"]
    assert [v["status"] for v in result.to_dict()["verdicts"]] == ["unjudged", "unjudged"]
    assert verdict_line(result.verdicts[0]).startswith("groundedness: unjudged")
    assert "unjudged" in run_summary(result)


def test_interrupted_turn_is_not_saved_and_the_thread_goes_on(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {"answer": [KeyboardInterrupt(), "RRF sums reciprocal ranks [1]."]}, route=False, reflect=False
    )
    try:
        agent.ask("How does reciprocal rank fusion merge rankings?", thread_id="t1")
    except KeyboardInterrupt:
        pass
    else:  # pragma: no cover
        pytest.fail("the interrupt did not propagate")
    assert agent.turns("t1") == []
    result = agent.ask("How does reciprocal rank fusion merge rankings?", thread_id="t1")
    assert result.answer == "RRF sums reciprocal ranks [1]."
    assert [t["answer"] for t in agent.turns("t1")] == ["RRF sums reciprocal ranks [1]."]
    assert next(s.node for s in result.steps) == "load_context"
