"""Request bounds and small hardening of the app (over ScriptedEngine on real loopback HTTP): body size
413, absurd nesting 400, case-insensitive bearer scheme, no CDN-backed /docs; the server keeps serving."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_models.server.limits import DEFAULT_MAX_BODY_BYTES, MAX_BODY_DEPTH
from local_models.testing import LocalServer, ScriptedEngine, serve_app

USER = [{"role": "user", "content": "hello"}]


def _ok(server: LocalServer) -> None:
    reply = httpx.post(
        f"{server.base_url}/chat/completions", json={"messages": USER}, headers=server.headers(), timeout=30
    )
    assert reply.status_code == 200, reply.text


def test_body_over_the_limit_is_413_before_it_is_read(scripted: LocalServer) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (DEFAULT_MAX_BODY_BYTES + 10)}]}
    reply = httpx.post(f"{scripted.base_url}/chat/completions", json=big, timeout=30)
    assert reply.status_code == 413
    error = reply.json()["error"]
    assert error["code"] == "request_too_large" and f"{DEFAULT_MAX_BODY_BYTES:,}" in error["message"]
    _ok(scripted)


def test_chunked_body_over_the_limit_is_413(scripted: LocalServer) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}]}'

    reply = httpx.post(
        f"{scripted.base_url}/chat/completions",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "request_too_large"
    _ok(scripted)


def test_limit_is_a_setting() -> None:
    with serve_app(ScriptedEngine(model_name="scripted"), max_body_bytes=4096) as server:
        body = {"messages": [{"role": "user", "content": "z" * 5000}]}
        assert httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30).status_code == 413
        _ok(server)


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 100_000])
def test_deeply_nested_body_is_400(scripted: LocalServer, depth: int) -> None:
    body = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    reply = httpx.post(
        f"{scripted.base_url}/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_json" and "nested" in reply.json()["error"]["message"]
    _ok(scripted)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    with serve_app(ScriptedEngine(model_name="scripted"), api_key="s3cret") as server:
        reply = httpx.get(f"{server.root}/health", headers={"Authorization": f"{scheme} s3cret"}, timeout=10)
        assert reply.status_code == 200
        for wrong in ("bearer wrong", "Basic s3cret", "s3cret", f"{scheme}s3cret"):
            assert httpx.get(f"{server.root}/health", headers={"Authorization": wrong}).status_code == 401


def test_no_docs_pages_that_load_assets_from_a_cdn(scripted: LocalServer) -> None:
    for page in ("/docs", "/redoc"):
        reply = httpx.get(f"{scripted.root}{page}", timeout=10)
        assert reply.status_code == 404 and "cdn" not in reply.text.lower()
    assert httpx.get(f"{scripted.root}/openapi.json", timeout=10).status_code == 200


def test_api_key_file(tmp_path: Path) -> None:
    """`--api-key-file` keeps the key out of `ps`; an empty file is a clean error, not an open server."""
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    args = [sys.executable, "-m", "local_models.server", "--engine", "scripted", "--port", "0"]
    done = subprocess.run([*args, "--api-key-file", str(empty)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "it is empty" in done.stderr and "Traceback" not in done.stderr

    key_file = tmp_path / "server.key"
    key_file.write_text("from-a-file\n")
    env = {k: v for k, v in os.environ.items() if k != "RAGLOOP_API_KEY"}
    proc = subprocess.Popen([*args, "--api-key-file", str(key_file)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "serving scripted at http://127.0.0.1:PORT/v1"
        root = re.search(r"(http://\S+)/v1", line)
        assert root, line
        assert httpx.get(f"{root[1]}/health", timeout=10).status_code == 401
        good = httpx.get(f"{root[1]}/health", headers={"Authorization": "Bearer from-a-file"}, timeout=10)
        assert good.status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
        assert proc.stderr is not None
        proc.stderr.close()


def test_model_path_that_is_a_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    args = [sys.executable, "-m", "local_models.server", "--model", str(fifo), "--port", "0"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)  # the timeout is a hang guard
    assert done.returncode == 2 and "is not a regular file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [{"role": "user", "content": "hi \\ud800 there"}]}',
        b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["\\udfff"]}',
        b'{"messages": [{"role": "user", "content": "hi", "name\\udc00": 1}]}',
    ],
)
def test_lone_surrogate_escape_is_400(scripted: LocalServer, body: bytes) -> None:
    reply = httpx.post(
        f"{scripted.base_url}/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "surrogate" in reply.json()["error"]["message"]
    paired = b'{"messages": [{"role": "user", "content": "clef \\ud834\\udd1e"}]}'  # a valid pair is text
    assert httpx.post(f"{scripted.base_url}/chat/completions", content=paired).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b'{"model": "x", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"model": "x", "input": "\\ud800"}'],
)
def test_embeddings_route_has_the_same_body_bounds(scripted: LocalServer, body: bytes) -> None:
    reply = httpx.post(f"{scripted.base_url}/embeddings", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"  # was a 500 (RecursionError)
    _ok(scripted)
