"""Threads persist in <home>/threads.sqlite and resume by id, in this process and in a new one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from agent_support import AgentFactory, route_to, verdict

from agent.run import Agent, AgentDeps
from agent.testing import ScriptedChatClient

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


def test_history_is_limited_to_recent_turns(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(["one", "two", "three", "four"], route=False, retriever=None, history_turns=2)
    result = agent.ask("q1")
    for q in ("q2", "q3", "q4"):
        agent.ask(q, thread_id=result.thread_id)
    last = chat.calls[-1].messages
    assert [m["content"] for m in last[1:]] == ["q2", "two", "q3", "three", "q4"]


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
