"""`ChatClient` over real HTTP: the project's model server with its scripted (echo) engine, through `openai`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from agent.chat_client import ChatClient, ChatResult, parse_structured, response_format_for
from agent.errors import ChatBackendError, ContextLengthError, ModelOutputError
from agent.testing import ScriptedChatClient
from local_models.serve import serve

API_KEY = "test-key"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with serve("echo-model", engine="scripted", n_ctx=256, api_key=API_KEY, startup_timeout=60) as url:
        yield url


@pytest.fixture
def client(server_url: str) -> Iterator[ChatClient]:
    chat = ChatClient(server_url, "echo-model", api_key=API_KEY, timeout=30)
    yield chat
    chat.close()


class Decision(BaseModel):
    reason: str
    route: str


def test_generate_returns_text_usage_and_timings(client: ChatClient) -> None:
    result = client.generate([{"role": "user", "content": "hello there friend"}], max_tokens=20)
    assert result.text == "hello there friend"
    assert result.finish_reason == "stop" and result.tool_calls == []
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 3 and not result.usage.estimated
    assert result.timings.total_seconds > 0
    assert result.model == "echo-model"


def test_streaming_reports_tokens_and_measures_time_to_first_token(client: ChatClient) -> None:
    pieces: list[str] = []
    result = client.generate([{"role": "user", "content": "one two three four"}], on_token=pieces.append)
    assert "".join(pieces) == result.text == "one two three four"
    assert result.usage.completion_tokens == 4 and not result.usage.estimated
    t = result.timings
    assert t.first_token_seconds is not None and t.generation_seconds is not None
    assert t.first_token_seconds + t.generation_seconds == pytest.approx(t.total_seconds)


def test_structured_parses_json_and_sends_the_schema(client: ChatClient) -> None:
    decision = client.structured([{"role": "user", "content": '{"reason": "hi", "route": "direct"}'}], Decision)
    assert decision == Decision(reason="hi", route="direct")
    with pytest.raises(ModelOutputError, match="does not fit Decision"):
        client.structured([{"role": "user", "content": "not json"}], Decision)


def test_context_too_long_is_a_user_error_with_what_to_do(client: ChatClient) -> None:
    with pytest.raises(ContextLengthError, match="larger --n-ctx"):
        client.generate([{"role": "user", "content": "word " * 400}])


def test_wrong_key_unknown_model_and_unreachable_server_are_clear_errors(server_url: str) -> None:
    with pytest.raises(ChatBackendError, match="rejected the API key"):
        ChatClient(server_url, "echo-model", api_key="wrong").generate([{"role": "user", "content": "x"}])
    with pytest.raises(ChatBackendError, match="does not serve model 'nope'"):
        ChatClient(server_url, "nope", api_key=API_KEY).generate([{"role": "user", "content": "x"}])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ChatBackendError, match="Cannot reach the model server"):
        ChatClient(f"http://127.0.0.1:{port}/v1", "m", timeout=5).generate([{"role": "user", "content": "x"}])


def test_response_format_and_parse_structured() -> None:
    fmt = response_format_for(Decision)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Decision"
    assert fmt["json_schema"]["schema"]["required"] == ["reason", "route"]
    assert response_format_for({"type": "object"}, name="x")["json_schema"] == {
        "name": "x",
        "schema": {"type": "object"},
        "strict": True,
    }
    with pytest.raises(ModelOutputError, match="empty output"):
        parse_structured(ChatResult(text="  "), Decision)
    with pytest.raises(ModelOutputError, match="route: Field required") as info:
        parse_structured(ChatResult(text='{"reason": "r"}'), Decision)
    assert info.value.result is not None and info.value.result.text == '{"reason": "r"}'


def test_scripted_client_follows_its_script_and_records_calls() -> None:
    chat = ScriptedChatClient(["first", {"reason": "r", "route": "direct"}, ValueError("boom")])
    tokens: list[str] = []
    assert chat.generate([{"role": "user", "content": "a"}], on_token=tokens.append).text == "first"
    assert tokens == ["first"]
    assert chat.structured([{"role": "user", "content": "b"}], Decision).route == "direct"
    with pytest.raises(ValueError, match="boom"):
        chat.generate([{"role": "user", "content": "c"}])
    with pytest.raises(AssertionError, match="unscripted 'reply' call"):
        chat.generate([{"role": "user", "content": "d"}])
    assert chat.kinds() == ["reply", "structured", "reply", "reply"]
    assert json.loads(json.dumps(chat.calls[1].request["response_format"]))["json_schema"]["name"] == "Decision"

    echo = ScriptedChatClient(lambda messages, request: messages[-1]["content"].upper(), prompt_tps=100)
    result = echo.generate([{"role": "user", "content": "shout this"}], max_tokens=1)
    assert result.text == "SHOUT" and result.finish_reason == "stop"
    assert result.timings.prompt_seconds == pytest.approx(result.usage.prompt_tokens / 100)
