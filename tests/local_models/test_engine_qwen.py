"""`LlamaEngine` on the default chat model `qwen2.5-coder-0.5b`, whose own template renders tools ("native")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from agent.settings import Settings
from local_models.engine import LlamaEngine, load_engine
from local_models.types import FinishEvent, SamplingParams

pytestmark = pytest.mark.slow

SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation and return matching passages",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
            "required": ["query"],
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "What's the weather like in Paris right now?"}]


@pytest.fixture(scope="module")
def qwen() -> Iterator[LlamaEngine]:
    # The assembled file is cached in the models directory of the default settings (RAGLOOP_HOME).
    engine = load_engine("qwen2.5-coder-0.5b", Settings().models_dir, n_ctx=2048, n_threads=2)
    yield engine
    engine.close()


def finish_of(engine: LlamaEngine, messages: list[dict[str, Any]], **kwargs: Any) -> FinishEvent:
    sampling = kwargs.pop("sampling", SamplingParams(temperature=0.0, max_tokens=64))
    *_, finish = engine.run(engine.prepare_chat(messages, sampling, **kwargs))
    assert isinstance(finish, FinishEvent)
    return finish


def arguments_of(finish: FinishEvent, tool: dict[str, Any]) -> dict[str, Any]:
    assert finish.finish_reason == "tool_calls", finish
    (call,) = finish.tool_calls
    assert call.name == tool["function"]["name"]
    arguments: dict[str, Any] = json.loads(call.arguments)
    jsonschema.validate(arguments, tool["function"]["parameters"])
    return arguments


def test_native_template_renders_tools(qwen: LlamaEngine) -> None:
    assert qwen.tool_style == "native"
    job = qwen.prepare_chat(ASK_WEATHER, SamplingParams(), tools=[WEATHER], tool_choice="auto")
    prompt = qwen.llm.detokenize(job.prompt_tokens, special=True).decode()
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt


def test_required_call_among_two_tools(qwen: LlamaEngine) -> None:
    finish = finish_of(qwen, ASK_WEATHER, tools=[SEARCH, WEATHER], tool_choice="required")
    assert arguments_of(finish, WEATHER)["city"] == "Paris"


def test_auto_call_from_free_generation(qwen: LlamaEngine) -> None:
    finish = finish_of(qwen, ASK_WEATHER, tools=[SEARCH, WEATHER], tool_choice="auto")
    assert arguments_of(finish, WEATHER)["city"] == "Paris"
    assert finish.text == ""


def test_tool_result_in_history_leads_to_a_text_answer(qwen: LlamaEngine) -> None:
    arguments = json.dumps({"city": "Paris"})
    history = [
        *ASK_WEATHER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 17, "sky": "overcast"}'},
    ]
    # tool_choice "none": the 0.5B model tends to call the tool again when it may.
    job = qwen.prepare_chat(
        history, SamplingParams(temperature=0.0, max_tokens=64), tools=[WEATHER], tool_choice="none"
    )
    prompt = qwen.llm.detokenize(job.prompt_tokens, special=True).decode()
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt  # arguments decoded, not a string
    assert "<tool_response>" in prompt
    *_, finish = qwen.run(job)
    assert isinstance(finish, FinishEvent)
    assert finish.finish_reason == "stop" and "17" in finish.text


def test_json_schema_answer_validates(qwen: LlamaEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "language": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "typed": {"type": "boolean"},
        },
        "required": ["language", "keywords", "typed"],
    }
    question = [{"role": "user", "content": "Describe the Python programming language as JSON."}]
    response_format = {"type": "json_schema", "json_schema": {"name": "lang", "schema": schema}}
    finish = finish_of(
        qwen, question, sampling=SamplingParams(temperature=0.0, max_tokens=120), response_format=response_format
    )
    assert finish.finish_reason == "stop"
    answer = json.loads(finish.text)
    jsonschema.validate(answer, schema)
    assert "python" in answer["language"].lower()
