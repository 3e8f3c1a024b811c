"""The HTTP API over ScriptedEngine: OpenAI shapes, SSE, sampling fields, and every error status."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from local_models.server.metrics import sample as metric
from local_models.testing import LocalServer, Reply, ScriptedEngine, serve_app
from local_models.types import InvalidRequestError, ToolCall

USER = [{"role": "user", "content": "the quick brown fox"}]


def test_chat_completion_has_openai_shape(scripted: LocalServer) -> None:
    reply = scripted.client().chat.completions.create(model="scripted", messages=USER)  # type: ignore[arg-type]
    assert reply.object == "chat.completion"
    assert reply.model == "scripted"
    assert reply.choices[0].message.content == "the quick brown fox"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 4


def test_streamed_chat_yields_tokens_then_usage_then_done(scripted: LocalServer) -> None:
    stream = scripted.client().chat.completions.create(
        model="scripted",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "the quick brown fox"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4

    raw = httpx.post(f"{scripted.base_url}/chat/completions", json={"messages": USER, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = [line for line in raw.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert not any("usage" in json.loads(e[6:]) for e in events[:-1])  # no usage unless asked


def test_sampling_fields_reach_the_engine(scripted: LocalServer) -> None:
    scripted.client().chat.completions.create(
        model="scripted",
        messages=USER,  # type: ignore[arg-type]
        temperature=0.0,
        top_p=0.5,
        seed=7,
        max_completion_tokens=2,
        stop="brown",
        extra_body={"top_k": 3, "min_p": 0.1, "repeat_penalty": 1.2},
    )
    sampling = scripted.engine.jobs[-1].sampling
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.min_p) == (0.0, 0.5, 3, 0.1)
    assert (sampling.repeat_penalty, sampling.seed, sampling.max_tokens, sampling.stop) == (1.2, 7, 2, ["brown"])


def test_max_tokens_and_stop_finish_reasons(scripted: LocalServer) -> None:
    client = scripted.client()
    cut = client.chat.completions.create(model="scripted", messages=USER, max_tokens=2)  # type: ignore[arg-type]
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == "the quick"
    stopped = client.chat.completions.create(model="scripted", messages=USER, stop=[" brown"])  # type: ignore[arg-type]
    assert stopped.choices[0].message.content == "the quick"
    assert stopped.choices[0].finish_reason == "stop"


def test_tool_calls_plain_and_streamed() -> None:
    call = ToolCall(id="call_1", name="search", arguments='{"query": "fox"}')
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    engine = ScriptedEngine([Reply(tool_calls=[call]), Reply(tool_calls=[call])], model_name="m")
    with serve_app(engine) as server:
        client = server.client()
        reply = client.chat.completions.create(model="m", messages=USER, tools=tools, tool_choice="required")  # type: ignore[arg-type]
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert message.content is None
        assert message.tool_calls is not None
        assert message.tool_calls[0].function.name == "search"  # type: ignore[union-attr]
        assert json.loads(message.tool_calls[0].function.arguments) == {"query": "fox"}  # type: ignore[union-attr]
        assert engine.jobs[-1].tool_choice == "required" and engine.jobs[-1].tools[0]["function"]["name"] == "search"

        chunks = list(client.chat.completions.create(model="m", messages=USER, tools=tools, stream=True))  # type: ignore[arg-type]
        deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert [(d.index, d.id, d.function.name) for d in deltas] == [(0, "call_1", "search")]  # type: ignore[union-attr]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_text_completions_plain_and_streamed(scripted: LocalServer) -> None:
    client = scripted.client()
    done = client.completions.create(model="scripted", prompt="once upon a time", max_tokens=3)
    assert done.object == "text_completion"
    assert done.choices[0].text == "once upon a"
    assert done.choices[0].finish_reason == "length"
    parts = list(
        client.completions.create(
            model="scripted", prompt="once upon a time", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(p.choices[0].text for p in parts if p.choices) == "once upon a time"
    assert parts[-1].choices == [] and parts[-1].usage is not None and parts[-1].usage.completion_tokens == 4
    assert scripted.engine.jobs[-1].kind == "completion"


def test_models_health_and_aliases() -> None:
    with serve_app(ScriptedEngine(model_name="tiny"), aliases=["gpt-4o-mini"]) as server:
        client = server.client()
        assert [m.id for m in client.models.list()] == ["tiny", "gpt-4o-mini"]
        assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
        assert reply.model == "tiny"
        health = httpx.get(f"{server.root}/health").json()
        assert health["status"] == "ok" and health["model"] == "tiny"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER, "temperature": 5}, "temperature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"messages": USER, "n": 2}, None),
        ({"messages": USER, "frequency_penalty": 0.5}, None),
        ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format"),
        ({"messages": USER, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, None),
        ({"model": "scripted"}, "messages"),
    ],
)
def test_invalid_fields_are_400_in_openai_shape(scripted: LocalServer, body: dict, param: str | None) -> None:
    response = httpx.post(f"{scripted.base_url}/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_value"
    assert error["param"] == param
    assert scripted.engine.jobs == []  # rejected before reaching the engine


def test_malformed_json_is_400_and_server_keeps_serving(scripted: LocalServer) -> None:
    for raw in (b"{not json", b"[1, 2]", b""):
        response = httpx.post(
            f"{scripted.base_url}/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"
    assert scripted.client().chat.completions.create(model="scripted", messages=USER).choices  # type: ignore[arg-type]


def test_unknown_model_is_404(scripted: LocalServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        scripted.client().chat.completions.create(model="gpt-5", messages=USER)  # type: ignore[arg-type]
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "scripted" in error["message"]
    assert httpx.post(f"{scripted.base_url}/completions", json={"model": "x", "prompt": "a"}).status_code == 404


def test_context_length_exceeded_is_400_with_counts() -> None:
    with serve_app(ScriptedEngine(model_name="m", n_ctx=300)) as server:
        client = server.client()
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="m", messages=USER, max_tokens=400)  # type: ignore[arg-type]
        error = caught.value.body
        assert isinstance(error, dict) and error["code"] == "context_length_exceeded"
        assert "300" in error["message"] and "400 max_tokens" in error["message"]
        # streamed requests get the same HTTP 400 (the stream has not started yet)
        streamed = httpx.post(
            f"{server.base_url}/chat/completions", json={"messages": USER, "max_tokens": 400, "stream": True}
        )
        assert streamed.status_code == 400 and streamed.json()["error"]["code"] == "context_length_exceeded"
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content  # type: ignore[arg-type]


def test_engine_errors_are_400_and_crashes_are_500(caplog: pytest.LogCaptureFixture) -> None:
    engine = ScriptedEngine(
        [Reply(raises=InvalidRequestError("bad grammar", param="response_format")), Reply(raises=RuntimeError("boom"))],
        model_name="m",
    )
    with serve_app(engine) as server:
        url = f"{server.base_url}/chat/completions"
        bad = httpx.post(url, json={"messages": USER})
        assert bad.status_code == 400
        assert bad.json()["error"] == {
            "message": "bad grammar",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": "invalid_request_error",
        }
        crash = httpx.post(url, json={"messages": USER})
        assert crash.status_code == 500
        assert crash.json()["error"]["code"] == "internal_error"
        assert "Traceback" not in crash.text and "boom" not in crash.text
        assert httpx.post(url, json={"messages": USER}).status_code == 200  # still serving
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_error_after_stream_started_is_an_error_event() -> None:
    engine = ScriptedEngine(
        [Reply(text="one two three", raises=RuntimeError("mid-stream"), raise_after=2)], model_name="m"
    )
    with serve_app(engine) as server:
        with pytest.raises(openai.APIError):
            list(server.client().chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
        assert httpx.post(f"{server.base_url}/chat/completions", json={"messages": USER}).status_code == 200


def test_unknown_route_is_404_in_openai_shape(scripted: LocalServer) -> None:
    response = httpx.get(f"{scripted.base_url}/audio/speech")  # /v1/embeddings exists now
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_key_is_required_on_every_route() -> None:
    with serve_app(ScriptedEngine(model_name="m"), api_key="s3cret") as server:
        for path in ("/health", "/metrics", "/v1/models"):
            assert httpx.get(server.root + path).status_code == 401
            assert httpx.get(server.root + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert httpx.get(server.root + path, headers=server.headers()).status_code == 200
        with pytest.raises(openai.AuthenticationError) as caught:
            server.client(api_key="wrong").chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_api_key"
        assert server.engine.jobs == []
        assert server.client().chat.completions.create(model="m", messages=USER).choices  # type: ignore[arg-type]


def test_metrics_count_requests_and_tokens(scripted: LocalServer) -> None:
    client = scripted.client()
    client.chat.completions.create(model="scripted", messages=USER)  # type: ignore[arg-type]
    client.chat.completions.create(model="scripted", messages=USER)  # type: ignore[arg-type]  # same prompt: cached
    httpx.post(f"{scripted.base_url}/chat/completions", content=b"{")
    text = scripted.metrics()
    assert metric(text, 'ragloop_requests_total{endpoint="/v1/chat/completions",status="200"}') == 2
    assert metric(text, 'ragloop_requests_total{endpoint="/v1/chat/completions",status="400"}') == 1
    assert metric(text, "ragloop_completion_tokens_total") == 8
    prompt = len(scripted.engine.jobs[0].prompt_tokens)
    assert metric(text, "ragloop_prompt_tokens_total") == 2 * prompt
    assert metric(text, "ragloop_cached_prompt_tokens_total") == prompt
    assert metric(text, "ragloop_time_to_first_token_seconds_count") == 2
    assert metric(text, 'ragloop_finished_total{endpoint="/v1/chat/completions",reason="stop"}') == 2
    assert "ragloop_queue_depth 0" in text
