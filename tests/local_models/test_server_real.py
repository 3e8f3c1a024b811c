"""The real server (llama.cpp, smollm2-135m) through the `openai` client over loopback HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import openai
import pytest

from local_models.serve import serve
from local_models.server.metrics import sample as metric
from local_models.testing import LocalServer, wait_until

pytestmark = pytest.mark.slow

SMALL_MODEL = "smollm2-135m"

USER = [{"role": "user", "content": "Name one colour."}]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city"],
        },
    },
}
COUNTING = ", ".join(str(n) for n in range(1, 40)) + ","  # the model keeps counting: no early end of text


def test_chat_completion(real_server: LocalServer) -> None:
    reply = real_server.client().chat.completions.create(
        model=SMALL_MODEL,
        messages=USER,  # type: ignore[arg-type]
        max_tokens=24,
        temperature=0,
    )
    assert reply.model == SMALL_MODEL
    assert isinstance(reply.choices[0].message.content, str) and reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 24 and reply.usage.prompt_tokens > 0


def test_streamed_chat_completion(real_server: LocalServer) -> None:
    chunks = list(
        real_server.client().chat.completions.create(
            model=SMALL_MODEL,
            messages=USER,  # type: ignore[arg-type]
            max_tokens=24,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert text.strip() and len(pieces) > 1  # token by token, not one blob
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    usage = chunks[-1].usage
    assert usage is not None and 0 < usage.completion_tokens <= 24


def test_json_schema_response_validates(real_server: LocalServer) -> None:
    reply = real_server.client().chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "Invent a person with a name and an age."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
        max_tokens=200,
        temperature=0,
    )
    assert reply.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), PERSON)


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_tool_call_arguments_validate(real_server: LocalServer, tool_choice: object) -> None:
    reply = real_server.client().chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice=tool_choice,  # type: ignore[arg-type]
        max_tokens=120,
        temperature=0,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])  # type: ignore[union-attr,index]


def test_every_error_case_and_the_server_keeps_serving(real_server: LocalServer) -> None:
    url = f"{real_server.base_url}/chat/completions"
    malformed = httpx.post(url, content=b'{"messages": [', headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"

    client = real_server.client()
    with pytest.raises(openai.BadRequestError) as invalid:
        client.chat.completions.create(model=SMALL_MODEL, messages=USER, temperature=7)  # type: ignore[arg-type]
    assert isinstance(invalid.value.body, dict) and invalid.value.body["param"] == "temperature"

    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert isinstance(unknown.value.body, dict) and unknown.value.body["code"] == "model_not_found"

    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(
            model=SMALL_MODEL,
            messages=[{"role": "user", "content": "lorem ipsum " * 1500}],
            max_tokens=10,
        )
    body = too_long.value.body
    assert isinstance(body, dict) and body["code"] == "context_length_exceeded"
    counts = [int(n) for n in re.findall(r"\d+", body["message"])]
    assert 2048 in counts  # the context
    assert any(n > 2048 for n in counts)  # the tokens the request needs

    after = client.chat.completions.create(model=SMALL_MODEL, messages=USER, max_tokens=8)  # type: ignore[arg-type]
    assert after.choices[0].message.content is not None


def test_eight_concurrent_requests_all_answered(real_server: LocalServer) -> None:
    client = real_server.client(timeout=600)
    barrier = threading.Barrier(8)

    def ask(n: int) -> str:
        barrier.wait()
        reply = client.chat.completions.create(
            model=SMALL_MODEL,
            messages=[{"role": "user", "content": f"Say the number {n}."}],
            max_tokens=12,
            temperature=0,
        )
        return reply.choices[0].finish_reason

    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(ask, range(8)))
    assert len(reasons) == 8 and set(reasons) <= {"stop", "length"}


def test_metrics_report_tokens_and_first_token_time(real_server: LocalServer) -> None:
    real_server.client().completions.create(model=SMALL_MODEL, prompt=COUNTING, max_tokens=16, temperature=0)
    text = real_server.metrics()
    assert metric(text, "ragloop_completion_tokens_total") >= 16
    assert metric(text, "ragloop_prompt_tokens_total") > 0
    assert metric(text, "ragloop_time_to_first_token_seconds_count") >= 1
    assert metric(text, "ragloop_generation_tokens_per_second") > 0


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalServer]:
    """A second real server: API key required, no waiting room (max_queue 0)."""
    with serve(SMALL_MODEL, n_ctx=2048, threads=2, api_key="test-key", max_queue=0) as base_url:
        running = LocalServer(base_url, None, None, api_key="test-key")
        try:
            yield running
        finally:
            running.close()


def test_api_key_rejection(guarded: LocalServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        guarded.client(api_key="wrong").models.list()
    assert httpx.get(f"{guarded.base_url}/models").status_code == 401
    assert [m.id for m in guarded.client().models.list()] == [SMALL_MODEL]


def test_full_queue_503_then_disconnect_frees_the_model(guarded: LocalServer) -> None:
    client = guarded.client()
    stream = client.completions.create(model=SMALL_MODEL, prompt=COUNTING, max_tokens=1500, temperature=0, stream=True)
    chunks = iter(stream)
    assert next(chunks).choices  # the model is now busy with this stream

    with pytest.raises(openai.InternalServerError) as busy:
        client.completions.create(model=SMALL_MODEL, prompt="Hello", max_tokens=4)
    assert busy.value.status_code == 503
    assert int(busy.value.response.headers["Retry-After"]) >= 1
    assert isinstance(busy.value.body, dict) and busy.value.body["code"] == "server_overloaded"

    stream.close()  # the client leaves mid-stream
    wait_until(
        lambda: metric(guarded.metrics(), 'ragloop_finished_total{endpoint="/v1/completions",reason="cancelled"}') == 1,
        "the abandoned generation to stop",
        timeout=120,
    )
    after = client.completions.create(model=SMALL_MODEL, prompt="Hello", max_tokens=4)
    assert after.choices[0].text is not None
    assert metric(guarded.metrics(), "ragloop_completion_tokens_total") < 1500 + 4  # it did not run to the end


def test_serve_model_command_serves_the_model() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from agent.cli import main; main()",
            "serve-model",
            "--model",
            SMALL_MODEL,
            "--port",
            "0",
            "--n-ctx",
            "1024",
            "--threads",
            "2",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            if match := re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line):
                url = match.group(1)
                break
        assert url, "serve-model did not print its URL"
        with openai.OpenAI(base_url=url, api_key="unused", max_retries=2) as client:
            assert [m.id for m in client.models.list()] == [SMALL_MODEL]
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_streamed_tool_call_arguments_validate(real_server: LocalServer) -> None:
    chunks = list(
        real_server.client().chat.completions.create(
            model=SMALL_MODEL,
            messages=[{"role": "user", "content": "What is the weather in Rome?"}],
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice="required",
            max_tokens=120,
            temperature=0,
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert len(calls) >= 1 and calls[0].index == 0 and calls[0].id
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    arguments = "".join((tc.function.arguments or "") for tc in calls if tc.index == 0 and tc.function)
    jsonschema.validate(json.loads(arguments), WEATHER["function"]["parameters"])  # type: ignore[index]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
