"""The issue's guarantees, through the real agent graph, real Chroma and MiniLM (the model is scripted, and
every prompt it was sent is recorded): user isolation in the prompt, restart, resumed summaries, erasure,
extraction failures, lessons."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.chat_client import Message
from agent.nodes.load_context import MEMORIES_HEADER, NOTHING_RECALLED
from agent.run import Agent, AgentConfig, AgentDeps
from agent.testing import KeywordRetriever, ScriptedChatClient, call_kind
from memory.service import Memory
from memory.settings import MemorySettings
from memory.store import ChromaMemoryStore
from retrieval.types import Chunk

MakeMemory = Callable[..., Memory]
RRF = Chunk(
    id="rrf-1",
    text="Reciprocal rank fusion merges rankings: each document scores the sum of 1/(60 + rank) over the lists.",
    doc_id="rrf.md",
    source="docs/rrf.md",
    title="Reciprocal rank fusion",
)


def direct_model(extracted: list[str] | None = None) -> ScriptedChatClient:
    """Routes everything to a direct reply "ok"; extraction returns `extracted`."""

    def reply(messages: list[Message], request: dict[str, Any]) -> Any:
        kind = call_kind(messages, request)
        if kind == "route":
            return {"route": "direct"}
        if kind == "extract":
            return {"facts": extracted or []}
        return "ok"

    return ScriptedChatClient(reply)


def prompt_text(chat: ScriptedChatClient) -> str:
    return "\n".join(str(m.get("content") or "") for call in chat.calls for m in call.messages)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    opened: list[Agent] = []

    def factory(chat: ScriptedChatClient, memory: Memory | None, **config: Any) -> Agent:
        deps = AgentDeps(chat=chat, memory=memory, retriever=KeywordRetriever([RRF]), config=AgentConfig(**config))
        agent = Agent(deps, home=tmp_path / "threads")
        opened.append(agent)
        return agent

    yield factory
    for agent in opened:
        agent.close()


def test_one_users_memories_never_reach_another_users_prompt(
    make_memory: MakeMemory, agents: Callable[..., Agent]
) -> None:
    alice = make_memory(user="alice")
    alice.remember("I work on PostgreSQL 15")
    alice.remember("My dog is called Rex")
    bob_chat, alice_chat = direct_model(), direct_model()
    bob = agents(bob_chat, alice.for_user("bob"))
    bob.ask("Which database do I work on? And what is my dog called?")
    assert bob_chat.calls and "PostgreSQL" not in prompt_text(bob_chat) and "Rex" not in prompt_text(bob_chat)
    agents(alice_chat, alice).ask("Which database do I work on?")
    reply = next(c for c in alice_chat.calls if c.kind == "reply")
    assert f"{MEMORIES_HEADER}\n- I work on PostgreSQL 15" in prompt_text(alice_chat)
    assert f"{MEMORIES_HEADER}{NOTHING_RECALLED}" in prompt_text(bob_chat)
    assert reply.messages[1]["role"] == "system" and "PostgreSQL 15" in reply.messages[1]["content"]


def test_extraction_runs_after_the_answer_and_bad_output_never_breaks_a_turn(
    make_memory: MakeMemory, agents: Callable[..., Agent]
) -> None:
    chat = direct_model(["I work on PostgreSQL 15"])
    memory = make_memory(chat)
    agent = agents(chat, memory)
    answer = agent.ask("I work on PostgreSQL 15. How do I vacuum?")
    assert answer.answer == "ok" and "extract" not in [s.node for s in answer.steps]
    turn = agent.wait_memory()
    assert turn is not None and turn.remembered == ["ADD: I work on PostgreSQL 15"] and turn.error is None
    assert chat.kinds() == ["route", "reply", "extract"]  # after the answer, off the graph

    def broken(messages: list[Message], request: dict[str, Any]) -> Any:
        kind = call_kind(messages, request)
        return {"route": "direct"} if kind == "route" else ("{not json" if kind == "extract" else "fine")

    broken_chat = ScriptedChatClient(broken)
    other = make_memory(broken_chat, user="carol")
    agent = agents(broken_chat, other)
    assert agent.ask("My name is Carol and I like tea.").answer == "fine"
    turn = agent.wait_memory()
    assert turn is not None and turn.decisions == [] and turn.error is None and other.list() == []


def test_forget_leaves_no_trace(make_memory: MakeMemory, agents: Callable[..., Agent]) -> None:
    memory = make_memory({"memory": [{"action": "SUPERSEDE", "target": 1, "text": "My phone number is 555 0199"}]})
    first = memory.remember("My phone number is 555 0100").record
    memory.remember("My phone number changed to 555 0199")
    keep = memory.remember("I like green tea").record
    assert first is not None and keep is not None
    removed = memory.forget(first.id[:6])
    assert removed.text == "My phone number is 555 0199" and len(removed.history) == 2
    everything = json.dumps(list(memory.export(episodes=True)))
    assert "555" not in everything and "green tea" in everything
    assert all("555" not in r.text for r in memory.store.search("facts:alice", "phone number 555 0100", k=10))
    assert memory.recall("What is my phone number?").facts == []
    with pytest.raises(Exception, match="No memory"):
        memory.history(first.id)
    chat = direct_model()
    agents(chat, memory).ask("What is my phone number?")
    assert "555" not in prompt_text(chat)


def test_a_recovered_failure_leaves_a_lesson_for_similar_questions(
    make_memory: MakeMemory, agents: Callable[..., Agent]
) -> None:
    fail = {
        "groundedness_rationale": "the answer claims RRF needs score normalisation, the source does not say so",
        "groundedness_pass": False,
        "relevance_rationale": "answers it",
        "relevance_pass": True,
    }
    ok = {**fail, "groundedness_rationale": "supported", "groundedness_pass": True}
    chat = ScriptedChatClient(
        {
            "route": [{"route": "documents"}] * 3,
            "answer": ["RRF normalises scores first [1].", "RRF sums 1/(60 + rank) [1].", "RRF sums ranks [1]."],
            "judge": [fail, ok, ok],
        }
    )
    memory = make_memory()
    agent = agents(chat, memory, rewrite=False, llm_grading=False, min_support=0.0)  # made-up scripted answers
    first = agent.ask("How does reciprocal rank fusion merge rankings?")
    assert first.retries == 1 and not first.failed
    agent.wait_memory()
    [episode] = memory.store.list("episodes:alice")
    assert episode.data["verdict"] == "pass" and episode.data["sources"] == ["docs/rrf.md"]
    assert episode.data["lesson"].startswith("A first answer to a similar question failed groundedness")
    agent.ask("How does reciprocal rank fusion combine rankings?")
    answer_call = [c for c in chat.calls if c.kind == "answer"][-1]
    assert "Lessons from earlier similar questions:" in prompt_text_of(answer_call.messages)
    assert "score normalisation" in prompt_text_of(answer_call.messages)
    assert memory.episodes.lessons("alice", "What is BM25?") == []  # unrelated questions get none
    assert memory.episodes.lessons("bob", "How does reciprocal rank fusion merge rankings?") == []


def prompt_text_of(messages: list[Message]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


# A child process: questions as [thread id or "" for a new thread, question] pairs, with memory in <home>; the
# scripted model folds summaries, extracts "I work on PostgreSQL 15" when said, and reports every prompt.
CHILD = textwrap.dedent(
    """
    import json, sys
    from agent.run import Agent, AgentConfig, AgentDeps
    from agent.testing import ScriptedChatClient, call_kind
    from memory.service import open_memory
    from memory.settings import MemorySettings
    from retrieval.store import open_store

    home, asks = sys.argv[1], json.loads(sys.argv[2])

    def reply(messages, request):
        kind = call_kind(messages, request)
        if kind == "route":
            return {"route": "direct"}
        if kind == "extract":
            return {"facts": ["I work on PostgreSQL 15"] if "PostgreSQL 15" in messages[-1]["content"] else []}
        if kind == "summary":
            said = [l[6:] for l in messages[-1]["content"].splitlines() if l.startswith("User: ")]
            return {"summary": "The user said: " + " / ".join(said)}
        return "ok"

    out = []
    with open_store(home) as store:
        chat = ScriptedChatClient(reply)
        memory = open_memory(store, chat, MemorySettings(user="ada"))
        with Agent(AgentDeps(chat=chat, memory=memory, config=AgentConfig(history_turns=1)), home=home) as agent:
            thread = None
            for thread_id, question in asks:
                chat.calls.clear()
                thread = agent.ask(question, thread_id=(thread if thread_id == "same" else thread_id) or None).thread_id
                agent.wait_memory()
                prompts = [m["content"] for c in chat.calls if c.kind == "reply" for m in c.messages]
                out.append({"thread_id": thread, "prompts": prompts})
    print(json.dumps(out))
    """
)


def run_child(home: Path, asks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), json.dumps(asks)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def test_memories_and_summaries_survive_a_restart(tmp_path: Path) -> None:
    first = run_child(
        tmp_path,
        [
            ("", "My name is Ada and I work on PostgreSQL 15."),
            ("same", "Tell me about vacuum."),
            ("same", "And about indexes?"),  # 3 unfolded turns > 2 x 1: the two oldest fold
        ],
    )
    thread = first[0]["thread_id"]
    resumed, fresh = run_child(tmp_path, [(thread, "What is my name?"), ("", "Which database do I work on?")])
    system = "\n".join(p for p in resumed["prompts"] if p.startswith("Summary of the earlier conversation:"))
    assert "The user said: My name is Ada and I work on PostgreSQL 15. / Tell me about vacuum." in system
    assert fresh["thread_id"] != thread  # a new thread, in a new process: the long-term fact is recalled
    assert any("- I work on PostgreSQL 15" in p for p in fresh["prompts"])
    assert not any(p.startswith("Summary of the earlier conversation:") for p in fresh["prompts"])


def test_memory_settings_reject_bad_users() -> None:
    with pytest.raises(ValueError, match="pattern"):
        MemorySettings(user="a b")


def test_memory_store_is_reopened_with_its_embedder(tmp_path: Path, embedder: Any) -> None:
    from retrieval.store import open_store

    with open_store(tmp_path) as store:
        ChromaMemoryStore(store, embedder).add("facts:alice", "I like tea")
    with open_store(tmp_path) as store:
        found = ChromaMemoryStore(store, embedder).search("facts:alice", "tea", k=1)
    assert [r.text for r in found] == ["I like tea"]
