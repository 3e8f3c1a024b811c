"""`LlamaEngine` on the real `smollm2-135m` (ChatML template, "prompted" tool calls), greedy unless noted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from local_models.engine import LlamaEngine, load_engine
from local_models.registry import resolve_model
from local_models.types import (
    ContextLengthExceededError,
    Event,
    FinishEvent,
    InvalidRequestError,
    Job,
    SamplingParams,
    TokenEvent,
)

pytestmark = pytest.mark.slow

CAPITAL = [
    {"role": "system", "content": "You are concise."},
    {"role": "user", "content": "What is the capital of France?"},
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather forecast for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"enum": ["UTC", "CET"]}},
            "required": ["timezone"],
        },
    },
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaEngine]:
    loaded = load_engine("smollm2-135m", tmp_path_factory.mktemp("models"), n_ctx=1024, n_threads=2)
    yield loaded
    loaded.close()


def greedy(**overrides: Any) -> SamplingParams:
    return SamplingParams(**{"temperature": 0.0, "max_tokens": 48, **overrides})


def run(engine: LlamaEngine, job: Job, cancel: threading.Event | None = None) -> tuple[list[str], FinishEvent]:
    texts: list[str] = []
    finish: list[FinishEvent] = []
    for event in engine.run(job, cancel):
        assert not finish, "nothing may follow the FinishEvent"
        if isinstance(event, TokenEvent):
            texts.append(event.text)
        else:
            finish.append(event)
    assert len(finish) == 1
    assert finish[0].text == "".join(texts)  # the final text is exactly what was streamed
    return texts, finish[0]


def chat(engine: LlamaEngine, messages: list[dict[str, Any]], **kwargs: Any) -> FinishEvent:
    sampling = kwargs.pop("sampling", greedy())
    return run(engine, engine.prepare_chat(messages, sampling, **kwargs))[1]


def assert_valid_call(finish: FinishEvent, tools: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    assert finish.finish_reason == "tool_calls", finish
    assert len(finish.tool_calls) >= 1
    call = finish.tool_calls[0]
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    assert call.name in schemas and (name is None or call.name == name)
    assert call.id.startswith("call_")
    arguments: dict[str, Any] = json.loads(call.arguments)
    jsonschema.validate(arguments, schemas[call.name])
    return arguments


# -- plain chat --------------------------------------------------------------------------------------
def test_greedy_chat_answers_and_stops(engine: LlamaEngine) -> None:
    finish = chat(engine, CAPITAL)
    assert "Paris" in finish.text
    assert finish.finish_reason == "stop"
    assert finish.usage.prompt_tokens > 10 and 0 < finish.usage.completion_tokens < 48
    timings = finish.timings
    assert 0 < timings.prompt_seconds <= timings.first_token_seconds <= timings.total_seconds


def test_stop_string_is_cut_and_never_streamed(engine: LlamaEngine) -> None:
    texts, finish = run(engine, engine.prepare_chat(CAPITAL, greedy(stop=["Paris"])))
    assert finish.finish_reason == "stop"
    assert "Paris" not in "".join(texts)
    assert finish.text.startswith("The capital of France is")


def test_max_tokens_finishes_with_length(engine: LlamaEngine) -> None:
    finish = chat(engine, CAPITAL, sampling=greedy(max_tokens=3))
    assert finish.finish_reason == "length"
    assert finish.usage.completion_tokens == 3


def test_seed_makes_sampling_reproducible(engine: LlamaEngine) -> None:
    story = [{"role": "user", "content": "Write one sentence about a cat."}]
    sampling = SamplingParams(temperature=1.2, top_k=0, top_p=1.0, min_p=0.0, seed=1234, max_tokens=24)
    chat(engine, story, sampling=sampling)
    # compared from the second call on: then the prompt is cached but its last token (prefix reuse keeps at least
    # one token to evaluate), the same work each time. The first call evaluates more of the prompt at once, and
    # llama.cpp's batched prefill can differ in the last bits of the logits, which temperature 1.2 can turn into
    # another token (it did on one CI run)
    first = chat(engine, story, sampling=sampling).text
    assert chat(engine, story, sampling=sampling).text == first
    others = {
        chat(engine, story, sampling=SamplingParams(**{**vars(sampling), "seed": seed})).text for seed in (1, 2, 3)
    }
    assert others != {first}  # the seed really drives the sampler


@pytest.mark.parametrize("sampling", [greedy(temperature=-1), greedy(top_p=0), greedy(max_tokens=0), greedy(min_p=2)])
def test_bad_sampling_is_a_request_error(engine: LlamaEngine, sampling: SamplingParams) -> None:
    with pytest.raises(InvalidRequestError):
        engine.prepare_chat(CAPITAL, sampling)


def test_empty_messages_are_a_request_error(engine: LlamaEngine) -> None:
    with pytest.raises(InvalidRequestError) as info:
        engine.prepare_chat([], greedy())
    assert info.value.param == "messages"


def test_context_overflow_reports_token_counts(engine: LlamaEngine) -> None:
    long = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(ContextLengthExceededError) as info:
        engine.prepare_chat(long, greedy(max_tokens=10))
    assert info.value.prompt_tokens > 1024 and info.value.n_ctx == 1024
    assert str(info.value.prompt_tokens) in str(info.value)
    fits = [{"role": "user", "content": "word " * 900}]
    engine.prepare_chat(fits, greedy(max_tokens=None))  # fits without max_tokens ...
    with pytest.raises(ContextLengthExceededError):
        engine.prepare_chat(fits, greedy(max_tokens=200))  # ... but not with room for 200 more tokens


# -- structured output -------------------------------------------------------------------------------
def test_json_schema_output_parses_and_validates(engine: LlamaEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"enum": ["France", "Italy"]}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
    finish = chat(engine, CAPITAL, sampling=greedy(max_tokens=80), response_format=response_format)
    assert finish.finish_reason == "stop"
    jsonschema.validate(json.loads(finish.text), schema)


def test_grammar_checked_on_the_chosen_token_gives_the_same_output_as_filtering_every_token(
    engine: LlamaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GrammarSampler asks the grammar about the sampled token only and filters the vocabulary only when it is
    # refused; greedy output must be identical to the grammar-first chain, refusals included (the enum and the
    # key order force the model off its preferred tokens)
    from local_models import decoding, generation

    schema = {
        "type": "object",
        "properties": {
            "verdict": {"enum": ["Lyon-ish", "Marseille!"]},
            "score": {"type": "integer"},
            "rationale": {"type": "string", "maxLength": 60},
        },
        "required": ["verdict", "score", "rationale"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "odd", "schema": schema}}
    built: list[object] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        sampler = decoding.build_sampler(*args, **kwargs)
        built.append(sampler)
        return sampler

    def outputs() -> list[str]:
        return [
            chat(engine, messages, sampling=greedy(max_tokens=60), response_format=response_format).text
            for messages in (CAPITAL, [{"role": "user", "content": "Rate this poem about the sea: waves, salt."}])
        ]

    monkeypatch.setattr(generation, "build_sampler", recording)
    checked = outputs()
    assert all(isinstance(s, decoding.GrammarSampler) for s in built)
    assert sum(s.fallbacks for s in built) > 0, "the test must exercise refused tokens"  # type: ignore[attr-defined]
    monkeypatch.setattr(generation, "build_sampler", lambda *a, **k: decoding.build_sampler(*a, check_first=False))
    assert outputs() == checked
    for text in checked:
        jsonschema.validate(json.loads(text), schema)


def test_json_object_output_is_an_object(engine: LlamaEngine) -> None:
    finish = chat(engine, CAPITAL, sampling=greedy(max_tokens=80), response_format={"type": "json_object"})
    assert finish.finish_reason == "stop"
    assert isinstance(json.loads(finish.text), dict)


def test_json_cut_by_max_tokens_finishes_with_length(engine: LlamaEngine) -> None:
    # Constrained output is complete JSON only when the grammar finished: callers must check finish_reason.
    finish = chat(engine, CAPITAL, sampling=greedy(max_tokens=3), response_format={"type": "json_object"})
    assert finish.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(finish.text)


def test_invalid_schema_is_a_request_error(engine: LlamaEngine) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "required": "city"}}}
    with pytest.raises(InvalidRequestError) as info:
        engine.prepare_chat(CAPITAL, greedy(), response_format=bad)
    assert info.value.param == "response_format"


# -- tools -------------------------------------------------------------------------------------------
PARIS_WEATHER = [{"role": "user", "content": "What's the weather in Paris?"}]


def test_required_tool_call_validates(engine: LlamaEngine) -> None:
    finish = chat(engine, PARIS_WEATHER, tools=[WEATHER, TIME], tool_choice="required")
    assert_valid_call(finish, [WEATHER, TIME])
    assert finish.text == ""


def test_named_tool_call_uses_that_tool(engine: LlamaEngine) -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    finish = chat(engine, PARIS_WEATHER, tools=[WEATHER, TIME], tool_choice=named)
    assert assert_valid_call(finish, [TIME], "get_time")["timezone"] in ("UTC", "CET")


def _history_call(index: int, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{index}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        ],
    }


# Two earlier calls teach the 135M model the format; on its own it rarely calls a tool.
FEW_SHOT = [
    {"role": "user", "content": "What's the weather in Berlin?"},
    _history_call(1, "Berlin"),
    {"role": "user", "content": "What's the weather in Rome?"},
    _history_call(2, "Rome"),
    {"role": "user", "content": "What's the weather in Paris?"},
]


def test_auto_tool_call_is_parsed_from_free_text(engine: LlamaEngine) -> None:
    finish = chat(engine, FEW_SHOT, tools=[WEATHER], tool_choice="auto")
    assert assert_valid_call(finish, [WEATHER], "get_weather")["city"] == "Paris"
    assert engine.stats.tool_call_repairs == 0


def test_auto_call_that_fails_its_schema_is_regenerated_under_a_grammar(engine: LlamaEngine) -> None:
    strict = json.loads(json.dumps(WEATHER))
    strict["function"]["parameters"]["required"] = ["city", "days"]  # the few-shot calls never pass "days"
    finish = chat(engine, FEW_SHOT, tools=[strict], tool_choice="auto", sampling=greedy(max_tokens=60))
    arguments = assert_valid_call(finish, [strict], "get_weather")
    assert isinstance(arguments["days"], int)
    assert engine.stats.tool_call_repairs == 1
    assert finish.usage.completion_tokens <= 60


def test_tool_choice_none_answers_in_text(engine: LlamaEngine) -> None:
    finish = chat(engine, CAPITAL, tools=[WEATHER], tool_choice="none")
    assert finish.finish_reason == "stop" and not finish.tool_calls and finish.text


def test_bad_tools_and_tool_choice_are_request_errors(engine: LlamaEngine) -> None:
    broken = {"type": "function", "function": {"name": "x", "parameters": {"type": "object", "properties": []}}}
    with pytest.raises(InvalidRequestError) as info:
        engine.prepare_chat(PARIS_WEATHER, greedy(), tools=[broken])
    assert info.value.param == "tools"
    unknown = {"type": "function", "function": {"name": "get_stock_price"}}
    with pytest.raises(InvalidRequestError) as info:
        engine.prepare_chat(PARIS_WEATHER, greedy(), tools=[WEATHER], tool_choice=unknown)
    assert info.value.param == "tool_choice"


# -- running -----------------------------------------------------------------------------------------
def test_cancel_between_tokens(engine: LlamaEngine) -> None:
    job = engine.prepare_chat([{"role": "user", "content": "Count from 1 to 50."}], greedy(max_tokens=200))
    cancel = threading.Event()
    events: list[Event] = []
    for event in engine.run(job, cancel):
        events.append(event)
        if len(events) == 2:
            cancel.set()
    finish = events[-1]
    assert isinstance(finish, FinishEvent) and finish.finish_reason == "cancelled"
    assert finish.usage.completion_tokens < 10
    assert chat(engine, CAPITAL).finish_reason == "stop"  # the engine is usable right after


def test_second_turn_reuses_the_cached_prefix(engine: LlamaEngine) -> None:
    first = chat(engine, CAPITAL)
    second_turn = [*CAPITAL, {"role": "assistant", "content": first.text}, {"role": "user", "content": "And of Italy?"}]
    with_reuse = chat(engine, second_turn)
    assert with_reuse.usage.cached_prompt_tokens >= first.usage.prompt_tokens
    engine.reuse_prefix = False
    try:
        chat(engine, CAPITAL)
        without = chat(engine, second_turn)
    finally:
        engine.reuse_prefix = True
    assert without.usage.cached_prompt_tokens == 0
    assert without.text == with_reuse.text


def test_prompt_lookup_gives_the_same_greedy_text(engine: LlamaEngine) -> None:
    # Verification batches can differ from one-token decoding in the last float bits, so a near-tie could
    # flip a greedy choice; a text the model copies confidently keeps this comparison exact.
    passage = (
        "The quick brown fox jumps over the lazy dog. Retrieval augmented generation combines a search engine "
        "with a language model, so answers can cite their sources. Each chunk of a document is embedded and stored."
    )
    copy = [{"role": "user", "content": f"Repeat the following text exactly.\n\n{passage}"}]
    plain = chat(engine, copy, sampling=greedy(max_tokens=60))
    assert engine.stats.draft_proposed == 0
    engine.prompt_lookup = 5
    try:
        looked_up = chat(engine, copy, sampling=greedy(max_tokens=60))
        stats = engine.stats
    finally:
        engine.prompt_lookup = None
    assert passage in plain.text
    assert looked_up.text == plain.text
    assert stats.draft_accepted > 0
    assert stats.decode_calls < looked_up.usage.completion_tokens  # several tokens per decode


def test_plain_gguf_path_infers_the_tool_style(engine: LlamaEngine) -> None:
    path = resolve_model("smollm2-135m", Path("unused")).path  # a single-part model: no cache needed
    by_path = load_engine(str(path), Path("unused"), n_ctx=512, n_threads=2)
    try:
        assert by_path.model_name == path.name
        assert by_path.tool_style == "prompted"  # ChatML template without tool markup
        finish = run(by_path, by_path.prepare_chat(PARIS_WEATHER, greedy(), tools=[WEATHER], tool_choice="required"))[1]
        assert_valid_call(finish, [WEATHER], "get_weather")
    finally:
        by_path.close()
