"""`Generation`'s tool-call state machine, driven by a scripted decoder (one character per token), so every
path — text, tagged calls, bare JSON calls, JSON that is not a call, repair — runs deterministically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_models import generation
from local_models.decoding import DecodeStats
from local_models.generation import Generation, Plan
from local_models.tool_calls import CALL_PREFIX, check_tools
from local_models.types import FinishEvent, Job, SamplingParams, TokenEvent

EOG = -1
TOOLS = check_tools(
    [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
)


class ScriptedDecoder:
    """The `Decoder` surface `Generation` uses; each `generate` call plays the next script."""

    def __init__(self, prompt: list[int], *scripts: str) -> None:
        self.n_ctx = 4096
        self.stats = DecodeStats()
        self.llm = None
        self.context = list(prompt)
        self.scripts = list(scripts)
        self.truncated_to: list[int] = []
        self.forced: list[str] = []

    @property
    def n_past(self) -> int:
        return len(self.context)

    def generate(self, sampler: Any, draft: Any, budget: int) -> Iterator[int]:
        script = self.scripts.pop(0)
        for index, char in enumerate(script[:budget]):
            yield ord(char)
            if index + 1 < len(script):
                self.context.append(ord(char))
        if len(script) < budget:
            yield EOG

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def piece(self, token: int) -> bytes:
        return chr(token).encode()

    def truncate(self, n: int) -> None:
        self.truncated_to.append(n)
        del self.context[n:]

    def tokenize(self, text: str) -> list[int]:
        self.forced.append(text)
        return [ord(c) for c in text]

    def decode(self, tokens: list[int], cancel: Any = None, all_logits: bool = False) -> bool:
        self.context.extend(tokens)
        return True


class _Sampler:
    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_llama_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "build_sampler", lambda *args: _Sampler())


def play(decoder: ScriptedDecoder, mode: str = "auto", **sampling: Any) -> tuple[str, FinishEvent]:
    job = Job("chat", [1, 2, 3], SamplingParams(temperature=0, **sampling))
    plan = Plan(mode, TOOLS.parameters)  # type: ignore[arg-type]
    events = list(Generation(decoder, None, job, plan, None).events(0))  # type: ignore[arg-type]
    finish = events[-1]
    assert isinstance(finish, FinishEvent)
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed == finish.text
    return streamed, finish


def test_text_before_a_tagged_call_streams_and_the_call_is_parsed() -> None:
    decoder = ScriptedDecoder(
        [1, 2, 3], 'Let me check.\n<tool_call>\n{"name": "lookup", "arguments": {"q": "x"}}\n</tool_call>'
    )
    streamed, finish = play(decoder)
    assert streamed == "Let me check."
    assert finish.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in finish.tool_calls] == [("lookup", {"q": "x"})]


def test_two_tagged_calls_then_chatter() -> None:
    call = '<tool_call>\n{"name": "lookup", "arguments": {"q": "%s"}}\n</tool_call>'
    decoder = ScriptedDecoder([1, 2, 3], f"{call % 'a'}\n{call % 'b'}\nDone, I think.")
    _, finish = play(decoder)
    assert [json.loads(c.arguments)["q"] for c in finish.tool_calls] == ["a", "b"]


def test_bare_json_call_is_a_call() -> None:
    decoder = ScriptedDecoder([1, 2, 3], '{"name": "lookup", "arguments": {"q": "bare"}}')
    streamed, finish = play(decoder)
    assert streamed == "" and finish.tool_calls[0].name == "lookup"


def test_json_that_names_no_tool_streams_as_text_and_continues() -> None:
    decoder = ScriptedDecoder([1, 2, 3], '{"answer": 42} is the JSON you asked for.')
    streamed, finish = play(decoder)
    assert streamed == '{"answer": 42} is the JSON you asked for.'
    assert finish.finish_reason == "stop" and not finish.tool_calls


def test_invalid_arguments_are_regenerated_from_the_start_of_the_call() -> None:
    bad = 'Ok <tool_call>\n{"name": "lookup", "arguments": {"query": "x"}}\n</tool_call>'
    decoder = ScriptedDecoder([1, 2, 3], bad, '{"name": "lookup", "arguments": {"q": "fixed"}}\n</tool_call>')
    streamed, finish = play(decoder)
    assert streamed == "Ok"
    assert json.loads(finish.tool_calls[0].arguments) == {"q": "fixed"}
    assert decoder.stats.tool_call_repairs == 1
    assert decoder.truncated_to == [3 + len("Ok ")]  # rolled back to just before "<tool_call>"
    assert decoder.forced == [CALL_PREFIX]
    assert finish.usage.completion_tokens == len("Ok ") + len(
        '{"name": "lookup", "arguments": {"q": "fixed"}}\n</tool_call>'
    )


def test_stop_string_before_any_call() -> None:
    decoder = ScriptedDecoder([1, 2, 3], "Answer: yes. END more <tool_call>")
    streamed, finish = play(decoder, stop=["END"])
    assert streamed == "Answer: yes. " and finish.finish_reason == "stop"


def test_call_cut_by_max_tokens_is_length_without_calls() -> None:
    decoder = ScriptedDecoder([1, 2, 3], '<tool_call>\n{"name": "lookup", "argu')
    _, finish = play(decoder, max_tokens=20)
    assert finish.finish_reason == "length" and finish.tool_calls == []


def test_bare_call_cut_by_max_tokens_is_length_without_calls() -> None:
    decoder = ScriptedDecoder([1, 2, 3], '{"name": "lookup", "arguments": {"q": "long')
    streamed, finish = play(decoder, max_tokens=30)
    assert finish.finish_reason == "length" and finish.tool_calls == [] and streamed == ""


def test_broken_bare_call_is_repaired() -> None:
    decoder = ScriptedDecoder(
        [1, 2, 3],
        '{"name": "lookup", "arguments": {q: x}}',
        '{"name": "lookup", "arguments": {"q": "x"}}\n</tool_call>',
    )
    _, finish = play(decoder)
    assert json.loads(finish.tool_calls[0].arguments) == {"q": "x"}
    assert decoder.truncated_to == [3] and decoder.stats.tool_call_repairs == 1


def test_required_mode_parses_the_constrained_call() -> None:
    decoder = ScriptedDecoder([1, 2, 3], '{"name": "lookup", "arguments": {"q": "r"}}\n</tool_call>')
    streamed, finish = play(decoder, mode="required")
    assert streamed == "" and finish.finish_reason == "tool_calls" and finish.tool_calls[0].name == "lookup"
