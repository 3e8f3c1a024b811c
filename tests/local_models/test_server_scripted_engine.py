"""The test double itself: it must honour the Engine contract the server relies on."""

from __future__ import annotations

import threading

import pytest

from local_models.testing import Reply, ScriptedEngine, wait_until
from local_models.types import (
    ContextLengthExceededError,
    FinishEvent,
    InvalidRequestError,
    SamplingParams,
    TokenEvent,
    ToolCall,
)

USER = [{"role": "user", "content": "alpha beta gamma delta"}]


def run_all(engine: ScriptedEngine, job, cancel=None):  # type: ignore[no-untyped-def]
    events = list(engine.run(job, cancel))
    assert all(isinstance(e, TokenEvent) for e in events[:-1])
    assert isinstance(events[-1], FinishEvent)
    return events[:-1], events[-1]


def test_scripted_replies_in_order_then_echo() -> None:
    engine = ScriptedEngine(["one two", Reply(text="three")])
    tokens, finish = run_all(engine, engine.prepare_chat(USER, SamplingParams()))
    assert [t.text for t in tokens] == ["one", " two"] and finish.text == "one two"
    assert run_all(engine, engine.prepare_chat(USER, SamplingParams()))[1].text == "three"
    assert run_all(engine, engine.prepare_chat(USER, SamplingParams()))[1].text == "alpha beta gamma delta"
    assert finish.usage.completion_tokens == 2


def test_max_tokens_and_stop() -> None:
    engine = ScriptedEngine()
    _, finish = run_all(engine, engine.prepare_chat(USER, SamplingParams(max_tokens=2)))
    assert (finish.finish_reason, finish.text) == ("length", "alpha beta")
    _, finish = run_all(engine, engine.prepare_chat(USER, SamplingParams(stop=["gam"])))
    assert (finish.finish_reason, finish.text) == ("stop", "alpha beta ")


def test_cancel_stops_between_tokens() -> None:
    cancel = threading.Event()
    engine = ScriptedEngine([" ".join(["x"] * 100)])
    events = engine.run(engine.prepare_completion("p", SamplingParams()), cancel)
    assert isinstance(next(events), TokenEvent)
    cancel.set()
    rest = list(events)
    assert len(rest) == 1 and isinstance(rest[0], FinishEvent)
    assert rest[0].finish_reason == "cancelled" and rest[0].usage.completion_tokens == 1


def test_context_limit_and_bad_requests() -> None:
    engine = ScriptedEngine(n_ctx=10)
    with pytest.raises(ContextLengthExceededError) as caught:
        engine.prepare_completion("a b c", SamplingParams(max_tokens=8))
    assert (caught.value.prompt_tokens, caught.value.n_ctx) == (3, 10)
    with pytest.raises(InvalidRequestError):
        engine.prepare_chat([], SamplingParams())


def test_tool_calls_unless_tool_choice_none() -> None:
    call = ToolCall(id="c1", name="f", arguments="{}")
    tools = [{"type": "function", "function": {"name": "f"}}]
    engine = ScriptedEngine([Reply(text="hi", tool_calls=[call]), Reply(text="hi", tool_calls=[call])])
    tokens, finish = run_all(engine, engine.prepare_chat(USER, SamplingParams(), tools=tools))
    assert tokens == [] and finish.finish_reason == "tool_calls" and finish.tool_calls == [call]
    _, finish = run_all(engine, engine.prepare_chat(USER, SamplingParams(), tools=tools, tool_choice="none"))
    assert finish.tool_calls == [] and finish.text == "hi"


def test_prefix_reuse_is_reported() -> None:
    engine = ScriptedEngine()
    first = run_all(engine, engine.prepare_completion("shared prefix one", SamplingParams()))[1]
    second = run_all(engine, engine.prepare_completion("shared prefix two", SamplingParams()))[1]
    assert first.usage.cached_prompt_tokens == 0 and second.usage.cached_prompt_tokens == 2


def test_gate_holds_runs_and_parallel_runs_are_counted() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(gate=gate)
    results: list[FinishEvent] = []

    def one(prompt: str) -> None:
        results.append(run_all(engine, engine.prepare_completion(prompt, SamplingParams()))[1])

    workers = [threading.Thread(target=one, args=(p,)) for p in ("a", "b")]
    for worker in workers:
        worker.start()
    wait_until(lambda: engine.runs == 2, "both runs to start")
    assert results == []  # both held at the gate
    gate.set()
    for worker in workers:
        worker.join(10)
    assert sorted(r.text for r in results) == ["a", "b"]
    assert engine.max_parallel_runs == 2
    assert not engine.running.is_set()
