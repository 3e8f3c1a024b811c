"""`ragloop mcp --transport http`: streamable HTTP on loopback with a bearer token checked on every request (401
otherwise), DNS-rebinding protection (a foreign Host header is refused), the SDK's real client with the token,
and the server answering after the rejections. A non-loopback bind without a token is refused at start."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from tools_helpers import COLLECTION, RAGLOOP, REPO, env_for, free_port, ragloop, text_of, wait_for_port

TOKEN = "test-token-7f3a"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server_url(kb_home: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*RAGLOOP, "mcp", "--transport", "http", "--port", str(port), "--collection", COLLECTION],
        cwd=REPO,
        env=env_for(kb_home, {"RAGLOOP_MCP_TOKEN": TOKEN}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err


def _post(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, json=INIT, headers={**HEADERS, **headers}, timeout=30)


def test_requests_without_the_right_token_get_401(server_url: str) -> None:
    assert _post(server_url, {}).status_code == 401
    assert _post(server_url, {"Authorization": "Bearer wrong"}).status_code == 401
    assert _post(server_url, {"Authorization": TOKEN}).status_code == 401  # no scheme
    assert _post(server_url, {"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_foreign_host_headers_are_refused(server_url: str) -> None:
    # DNS rebinding: a web page on evil.example resolved to 127.0.0.1 sends its own Host header
    rebound = _post(server_url, {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example:80"})
    assert rebound.status_code in (400, 403, 421)
    cross_origin = _post(server_url, {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
    assert cross_origin.status_code in (400, 403)


async def _client_session(url: str) -> dict[str, Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    seen: dict[str, Any] = {}
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
        seen["search"] = await client.call_tool("search_knowledge_base", {"query": "KV cache keys and values"})
        try:
            await client.call_tool("read_document", {"source": "x", "start": -1})
        except MCPError as exc:
            seen["bad"] = exc.error
        seen["refused"] = await client.call_tool("read_document", {"source": "../secrets.txt"})
        seen["after"] = await client.call_tool("calculator", {"expression": "6 * 7"})
    return seen


def test_the_sdk_client_with_the_token_lists_searches_and_survives_errors(server_url: str) -> None:
    seen = anyio.run(_client_session, server_url)
    assert {"search_knowledge_base", "ask", "read_document", "list_collections"} <= set(seen["tools"])
    hits = seen["search"].structured_content["hits"]
    assert hits[0]["source"].endswith("cache.md") and hits[0]["heading_path"] == ["The KV cache"]
    assert seen["bad"].code == -32602 and seen["bad"].data["fields"] == ["start"]
    assert seen["refused"].is_error and "not a document" in text_of(seen["refused"])
    assert text_of(seen["after"]) == "42"


def test_non_loopback_bind_requires_a_token(tmp_path: Path) -> None:
    done = ragloop(tmp_path, "mcp", "--transport", "http", "--host", "0.0.0.0", timeout=60)
    assert done.returncode == 2
    assert "RAGLOOP_MCP_TOKEN" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = ragloop(tmp_path, "mcp", "--transport", "http", "--port", str(port), timeout=60)
    assert done.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
