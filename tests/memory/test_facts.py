"""Writing facts: deterministic checks before any model call, then a constrained decision; extraction that
stores nothing when the model's output is unusable. Real Chroma and MiniLM; the model is scripted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent.testing import ScriptedChatClient
from memory.service import Memory

MakeMemory = Callable[..., Memory]


def chat_of(memory: Memory) -> ScriptedChatClient:
    assert isinstance(memory.chat, ScriptedChatClient)
    return memory.chat


def test_new_and_duplicate_facts_need_no_model_call(make_memory: MakeMemory) -> None:
    memory = make_memory()  # an empty script: any model call fails the test
    added = memory.remember("I work on PostgreSQL 15")
    assert (added.action, added.reason) == ("ADD", "nothing similar")
    exact = memory.remember("i work on postgresql 15!")
    assert (exact.action, exact.reason) == ("NOOP", "exact duplicate") and exact.record is not None
    near = memory.remember("I work with PostgreSQL 15")
    assert (near.action, near.reason) == ("NOOP", "near duplicate")
    assert [r.text for r in memory.list()] == ["I work on PostgreSQL 15"]
    assert chat_of(memory).calls == []


def test_contradiction_supersedes_and_history_keeps_both(make_memory: MakeMemory) -> None:
    memory = make_memory({"memory": [{"action": "SUPERSEDE", "target": 1, "text": "I work on PostgreSQL 16"}]})
    first = memory.remember("I work on PostgreSQL 15")
    memory.remember("My dog is called Rex")
    decision = memory.remember("I work on PostgreSQL 16 now")
    assert decision.action == "SUPERSEDE" and decision.record is not None and decision.record.id == first.record.id
    [call] = chat_of(memory).calls
    shown = call.messages[-1]["content"]
    assert "1. I work on PostgreSQL 15" in shown and "New fact: I work on PostgreSQL 16 now" in shown
    assert first.record is not None and first.record.id not in shown  # numbered, never raw ids
    schema = call.request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["target"]["enum"] == [0, 1]  # only the memories shown can be chosen
    history = memory.history(first.record.id).history
    assert [(h.action, h.text) for h in history] == [
        ("ADD", "I work on PostgreSQL 15"),
        ("SUPERSEDE", "I work on PostgreSQL 16"),
    ]
    assert history[1].previous == "I work on PostgreSQL 15" and "I work on PostgreSQL 16 now" in history[1].why
    assert sorted(r.text for r in memory.list()) == ["I work on PostgreSQL 16", "My dog is called Rex"]


def test_update_merges_and_add_keeps_both(make_memory: MakeMemory) -> None:
    memory = make_memory(
        {
            "memory": [
                {"action": "UPDATE", "target": 1, "text": "I live in Lyon, near the old town"},
                {"action": "ADD", "target": 0, "text": "I moved to Paris"},
            ]
        }
    )
    lyon = memory.remember("I live in Lyon")
    updated = memory.remember("I live in Lyon near the old town")
    assert updated.action == "UPDATE" and updated.record is not None and updated.record.id == lyon.record.id
    assert updated.record.text == "I live in Lyon, near the old town"
    added = memory.remember("I moved to Paris")
    assert added.action == "ADD" and len(memory.list()) == 2


def test_an_update_that_announces_a_change_supersedes(make_memory: MakeMemory) -> None:
    # seen with the 0.5B model: UPDATE with "I moved to Paris last month. I live in Lyon." (both values)
    merged = {"action": "UPDATE", "target": 1, "text": "I moved to Paris last month. I live in Lyon."}
    memory = make_memory({"memory": [merged]})
    lyon = memory.remember("I live in Lyon").record
    decision = memory.remember("I moved to Paris last month")
    assert decision.action == "SUPERSEDE" and decision.record is not None and lyon is not None
    assert decision.record.id == lyon.id and decision.record.text == "I moved to Paris last month"
    assert [h.text for h in memory.history(lyon.id).history] == ["I live in Lyon", "I moved to Paris last month"]


def test_an_update_that_drops_the_old_memory_is_stored_as_new(make_memory: MakeMemory) -> None:
    # an "update" of "I live in Lyon" whose text forgets Lyon would delete the city: the fact is added instead
    memory = make_memory({"memory": [{"action": "UPDATE", "target": 1, "text": "I live near the old town"}]})
    memory.remember("I live in Lyon")
    decision = memory.remember("I live in Lyon near the old town")
    assert decision.action == "ADD" and "not a merge" in decision.reason
    assert sorted(r.text for r in memory.list()) == ["I live in Lyon", "I live in Lyon near the old town"]


def test_an_update_that_merges_another_topic_is_stored_as_new(make_memory: MakeMemory) -> None:
    # seen with the 1.5B model: "I work at Acme Analytics" merged into the job memory, which a later
    # "I now work on PostgreSQL 16" superseded, job and company with it
    merged = {"action": "UPDATE", "target": 1, "text": "I work as a database administrator. I work at Acme Analytics."}
    memory = make_memory({"memory": [merged]})
    memory.remember("I work as a database administrator")
    decision = memory.remember("I work at Acme Analytics")
    assert (decision.action, decision.reason) == ("ADD", "model: another topic")
    assert sorted(r.text for r in memory.list()) == ["I work as a database administrator", "I work at Acme Analytics"]


@pytest.mark.parametrize(
    "reply", ["", "not json", {"action": "SUPERSEDE", "target": 7, "text": "x"}, {"action": "DELETE", "target": 1}]
)
def test_unusable_decision_stores_nothing(make_memory: MakeMemory, reply: Any) -> None:
    memory = make_memory({"memory": [reply]})
    memory.remember("I live in Lyon")
    decision = memory.remember("I moved to Paris")
    assert decision.action == "NOOP" and decision.reason.startswith("unusable model output")
    assert [(r.text, len(r.history)) for r in memory.list()] == [("I live in Lyon", 1)]


def test_extraction_keeps_grounded_facts_only(make_memory: MakeMemory) -> None:
    memory = make_memory(
        {"extract": [{"facts": ["I work on PostgreSQL 15", "I am an astronaut on Mars", "i work on postgresql 15"]}]}
    )
    assert memory.facts.extract("How does BM25 rank documents?") == []  # no first person: no model call
    assert memory.facts.extract("What is my name? Do you remember my dog?") == []  # questions state nothing
    assert chat_of(memory).calls == []
    facts = memory.facts.extract("By the way, I work on PostgreSQL 15 at my job.")
    assert facts == ["I work on PostgreSQL 15"]  # the invented one and the duplicate are dropped


@pytest.mark.parametrize("reply", ["", "{not json", {"facts": "I work on PostgreSQL"}, {"facts": ["x"] * 5}])
def test_malformed_or_empty_extraction_stores_nothing(make_memory: MakeMemory, reply: Any) -> None:
    from memory.episodes import Episode

    memory = make_memory({"extract": [reply]})
    turn = memory.after_turn(Episode("I work on PostgreSQL 15. How do I vacuum?", "Run VACUUM.", "direct"))
    assert turn.decisions == [] and turn.remembered == [] and memory.list() == []
    assert chat_of(memory).kinds() == ["extract"]  # the model was asked, its output was unusable


def test_remember_and_recall_tools_are_plain_typed_functions(make_memory: MakeMemory) -> None:
    from memory.tools import memory_tools
    from tools.registry import ToolRegistry

    memory = make_memory()
    registry = ToolRegistry(memory_tools(memory))
    assert registry.names() == ["remember", "recall"]
    params = registry.get("remember").schema()["function"]["parameters"]  # type: ignore[union-attr]
    assert params["required"] == ["fact"]
    assert registry.execute("remember", '{"fact": "I prefer answers in bullet points"}').content.startswith(
        "remembered (ADD)"
    )
    assert registry.execute("remember", '{"fact": "I prefer answers in bullet points"}').content.startswith(
        "already known"
    )
    assert "bullet points" in registry.execute("recall", '{"query": "how should answers be formatted"}').content
    assert registry.execute("recall", '{"query": "favourite colour"}').content == "nothing remembered about that"
    assert registry.execute("remember", '{"fact": "  "}').error
