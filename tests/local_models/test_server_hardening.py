"""Hostile-but-fair requests against the real server process (llama.cpp, smollm2-135m): each gets a clean
4xx answer naming what to change, and the server keeps serving afterwards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local_models.schema_limits import MAX_REPEAT, MAX_SCHEMA_DEPTH
from local_models.testing import LocalServer

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "Say hi."}]


def _post(server: LocalServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=server.headers(), timeout=120)


def _assert_still_serving(server: LocalServer) -> None:
    reply = _post(server, {"messages": USER, "max_tokens": 4, "temperature": 0})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] is not None


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "string", "maxLength": 20000}, "maxLength"),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 20000}, "maxItems"),
        ({"type": "object", "properties": {"tags": {"type": "array", "minItems": 20000}}}, "minItems"),
        ({"type": "string", "pattern": "^[a-z]{0,20000}$"}, "pattern"),
    ],
)
def test_response_format_beyond_the_bounds_is_a_400(real_server: LocalServer, schema: dict, keyword: str) -> None:
    reply = _post(real_server, {"messages": USER, "max_tokens": 8, "response_format": _json_schema(schema)})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "response_format" and keyword in error["message"] and str(MAX_REPEAT) in error["message"]
    _assert_still_serving(real_server)


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "save_note"}}])
def test_tool_parameters_beyond_the_bounds_are_a_400(real_server: LocalServer, tool_choice: Any) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "save_note",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 20000}},
                "required": ["text"],
            },
        },
    }
    reply = _post(real_server, {"messages": USER, "max_tokens": 8, "tools": [tool], "tool_choice": tool_choice})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == "tools" and "maxLength" in error["message"] and str(MAX_REPEAT) in error["message"]
    _assert_still_serving(real_server)


def test_bound_at_the_limit_still_constrains_output(real_server: LocalServer) -> None:
    schema = {"type": "string", "maxLength": MAX_REPEAT}
    reply = _post(
        real_server, {"messages": USER, "max_tokens": 8, "temperature": 0, "response_format": _json_schema(schema)}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].startswith('"')


@pytest.mark.parametrize("levels", [40, 400])
def test_deeply_nested_json_schema_is_a_400(real_server: LocalServer, levels: int) -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    reply = _post(real_server, {"messages": USER, "max_tokens": 8, "response_format": _json_schema(schema)})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert "nested more than" in error["message"]
    if levels == 40:  # within the body's depth bound: the schema's own bound names the parameter
        assert error["param"] == "response_format" and f"{MAX_SCHEMA_DEPTH} levels" in error["message"]
    _assert_still_serving(real_server)


def test_body_nested_100000_deep_is_a_400(real_server: LocalServer) -> None:
    body = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = httpx.post(
        f"{real_server.base_url}/chat/completions",
        content=body,
        headers={"Content-Type": "application/json", **real_server.headers()},
        timeout=60,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_json" and "nested" in reply.json()["error"]["message"]
    _assert_still_serving(real_server)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^((a{0,999}){0,999})$", "20,000"),  # the converter would spend minutes on it, the model waiting
        ("^" + "(" * 900 + "a" + ")" * 900 + "$", "nests groups"),  # RecursionError in Python's re: was a 500
    ],
)
def test_pathological_patterns_are_a_400(real_server: LocalServer, pattern: str, expected: str) -> None:
    schema = {"type": "string", "pattern": pattern}
    reply = _post(real_server, {"messages": USER, "max_tokens": 8, "response_format": _json_schema(schema)})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "response_format" and expected in reply.json()["error"]["message"]
    _assert_still_serving(real_server)


@pytest.mark.parametrize("path", ["/chat/completions", "/completions", "/tokenize"])
def test_lone_surrogate_is_a_400_not_a_tokenizer_crash(real_server: LocalServer, path: str) -> None:
    bodies = {
        "/chat/completions": b'{"messages": [{"role": "user", "content": "hi \\ud800"}], "max_tokens": 2}',
        "/completions": b'{"prompt": "hi \\udfff", "max_tokens": 2}',
        "/tokenize": b'{"text": "a\\ud800"}',
    }
    reply = httpx.post(
        f"{real_server.base_url}{path}",
        content=bodies[path],
        headers={"Content-Type": "application/json", **real_server.headers()},
        timeout=60,
    )
    assert reply.status_code == 400, reply.text  # was a 500 (UnicodeEncodeError in llama tokenize)
    assert "surrogate" in reply.json()["error"]["message"]
    _assert_still_serving(real_server)
