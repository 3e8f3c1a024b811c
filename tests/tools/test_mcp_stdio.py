"""`ragloop mcp` over stdio, driven by the SDK's real client in a subprocess: tools with annotations and schemas,
search with citation data, read_document and its refusals, bad arguments, a failing tool, resources, the prompt,
and the server answering after every error. A raw JSON-RPC session checks that stdout carries protocol only."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from tools_helpers import COLLECTION, RAGLOOP, REPO, env_for, ragloop, stdio_params, text_of


async def _session(home: Path) -> dict[str, Any]:
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    seen: dict[str, Any] = {}
    async with Client(stdio_params(home)) as client:
        listed = (await client.list_tools()).tools
        seen["tools"] = {t.name: t for t in listed}

        search = await client.call_tool("search_knowledge_base", {"query": "reciprocal rank fusion", "k": 2})
        seen["search"] = search

        hit = search.structured_content["hits"][0]
        seen["read"] = await client.call_tool("read_document", {"source": hit["source"], "start": 5, "end": 40})
        seen["read_all"] = await client.call_tool("read_document", {"source": hit["source"]})
        seen["refusals"] = {
            source: await client.call_tool("read_document", {"source": source})
            for source in ("../../etc/passwd", "/etc/passwd", str(Path(hit["source"]).parent / "planted.md"))
        }
        errors = {}
        for args in ({"query": "x", "k": "many"}, {"query": "x", "k": 0}, {"query": "x", "colour": "red"}, {}):
            try:
                await client.call_tool("search_knowledge_base", args)
            except MCPError as exc:
                errors[json.dumps(args)] = exc.error
        seen["errors"] = errors
        seen["calc_error"] = await client.call_tool("calculator", {"expression": "1/0"})
        seen["spin"] = await client.call_tool("calculator", {"expression": "((10**1000)**1000)**1000"})
        seen["unknown_collection"] = await client.call_tool(
            "search_knowledge_base", {"query": "x", "collection": "nope"}
        )
        seen["after"] = await client.call_tool("search_knowledge_base", {"query": "KV cache", "k": 1})
        seen["collections"] = await client.call_tool("list_collections", {})
        seen["resources"] = [str(r.uri) for r in (await client.list_resources()).resources]
        doc_uri = f"ragloop://documents/{COLLECTION}/" + __import__("urllib.parse").parse.quote(hit["source"], safe="")
        seen["resource_text"] = (await client.read_resource(doc_uri)).contents[0].text
        seen["prompt"] = (await client.get_prompt("cited_answer", {"question": "What is GGUF?"})).messages[0]
        # long-term memory: the first fact and an exact repeat are decided without a model
        seen["recall_empty"] = await client.call_tool("recall", {"query": "which database"})
        seen["remember"] = await client.call_tool("remember", {"fact": "I work on PostgreSQL 15"})
        seen["remember_again"] = await client.call_tool("remember", {"fact": "I work on PostgreSQL 15"})
        seen["recall"] = await client.call_tool("recall", {"query": "which database do I work on", "k": 3})
        seen["remember_empty"] = await client.call_tool("remember", {"fact": "  "})
        # the memory collection is not a document collection: a search of it would bypass the per-user filter
        seen["collections_after_memory"] = await client.call_tool("list_collections", {})
        seen["search_memory"] = await client.call_tool(
            "search_knowledge_base", {"query": "PostgreSQL", "collection": "ragloop-memory"}
        )
    return seen


@pytest.fixture(scope="module")
def session(kb_home: Path) -> dict[str, Any]:
    # a link planted next to the ingested files after the ingest, pointing outside: never readable
    docs = kb_home.parent / "docs"
    planted = docs / "planted.md"
    if not planted.exists():
        planted.symlink_to("/etc/passwd")
    return anyio.run(_session, kb_home)


def test_tools_are_listed_with_annotations_and_schemas(session: dict[str, Any]) -> None:
    tools = session["tools"]
    assert {"search_knowledge_base", "ask", "list_collections", "read_document", "calculator", "current_time"} <= set(
        tools
    )
    assert "ingest" not in tools  # only with --allow-ingest
    assert {"remember", "recall"} <= set(tools)
    assert not tools["remember"].annotations.read_only_hint and not tools["remember"].annotations.destructive_hint
    assert tools["recall"].annotations.read_only_hint
    search = tools["search_knowledge_base"]
    assert search.annotations.read_only_hint and search.annotations.idempotent_hint
    assert not search.annotations.open_world_hint
    assert search.input_schema["properties"]["mode"]["enum"] == ["hybrid", "dense", "bm25"]
    assert search.input_schema["properties"]["k"]["maximum"] == 50
    assert search.input_schema["additionalProperties"] is False
    assert "hits" in search.output_schema["properties"]
    assert tools["ask"].annotations.idempotent_hint is False


def test_search_returns_hits_with_citation_data(session: dict[str, Any]) -> None:
    result = session["search"]
    assert not result.is_error
    hits = result.structured_content["hits"]
    assert len(hits) == 2
    top = hits[0]
    assert top["source"].endswith("fusion.md") and top["title"] == "Rank fusion"
    assert top["heading_path"] == ["Rank fusion", "Reciprocal rank fusion"]
    assert len(top["chunk_id"]) >= 16 and {"dense", "bm25", "rrf"} <= set(top["scores"])
    assert json.loads(text_of(result))["hits"][0]["chunk_id"] == top["chunk_id"]  # text mirrors structured


def test_read_document_returns_stored_text_and_refuses_everything_else(session: dict[str, Any]) -> None:
    whole = session["read_all"].structured_content
    assert "Reciprocal rank fusion adds 1/(60 + rank) for every ranking" in whole["text"]
    assert whole["length"] == len(whole["text"]) and not whole["truncated"]
    part = session["read"].structured_content
    assert (part["start"], part["end"], part["text"]) == (5, 40, whole["text"][5:40])
    for source, result in session["refusals"].items():
        assert result.is_error, source
        assert "is not a document of any ingested collection" in text_of(result)
        assert "root:" not in text_of(result)


def test_bad_arguments_are_protocol_errors_naming_the_field(session: dict[str, Any]) -> None:
    errors = session["errors"]
    assert len(errors) == 4
    fields = {args: error.data["fields"] for args, error in errors.items()}
    assert fields == {
        '{"query": "x", "k": "many"}': ["k"],
        '{"query": "x", "k": 0}': ["k"],
        '{"query": "x", "colour": "red"}': ["colour"],
        "{}": ["query"],
    }
    assert all(error.code == -32602 and "search_knowledge_base" in error.message for error in errors.values())


def test_failing_tools_return_error_results_and_the_server_keeps_serving(session: dict[str, Any]) -> None:
    assert session["calc_error"].is_error and "ZeroDivisionError" in text_of(session["calc_error"])
    assert session["spin"].is_error and "digits" in text_of(session["spin"])
    missing = session["unknown_collection"]
    assert missing.is_error and "ragloop ingest" in text_of(missing)
    after = session["after"]
    assert not after.is_error and after.structured_content["hits"][0]["source"].endswith("cache.md")


def test_collections_resources_and_prompt(session: dict[str, Any]) -> None:
    listing = session["collections"].structured_content
    assert listing["default"] == COLLECTION
    assert [(c["name"], c["documents"]) for c in listing["collections"]] == [(COLLECTION, 3)]
    assert f"ragloop://collections/{COLLECTION}" in session["resources"]
    assert session["resource_text"].startswith("# Rank fusion")
    prompt = session["prompt"]
    assert prompt.role == "user" and "search_knowledge_base" in prompt.content.text and "[n]" in prompt.content.text


def _read_message(proc: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no answer from the server"
        chunk = os.read(proc.stdout.fileno(), 1)
        assert chunk, "the server closed stdout"
        line += chunk
    return json.loads(line)  # anything but a JSON-RPC message on stdout fails here


def test_stdout_carries_protocol_only(kb_home: Path) -> None:
    proc = subprocess.Popen(
        [*RAGLOOP, "mcp", "--collection", COLLECTION],
        cwd=REPO,
        env=env_for(kb_home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()

    try:
        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "0"},
                },
            }
        )
        assert _read_message(proc)["result"]["serverInfo"]["name"] == "ragloop"
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        # the first search loads the embedder and the BM25 index: anything they print must not reach stdout
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "search_knowledge_base", "arguments": {"query": "GGUF quantization", "k": 1}},
            }
        )
        answer = _read_message(proc)
        assert answer["id"] == 2 and not answer["result"].get("isError")
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        assert len(_read_message(proc)["result"]["tools"]) >= 6
    finally:
        rest, stderr = proc.communicate(timeout=60)  # EOF on stdin ends the server
    assert rest == b""
    assert proc.returncode == 0 and b"Traceback" not in stderr, stderr.decode()


def test_remember_and_recall_over_mcp(session: dict[str, Any], kb_home: Path) -> None:
    assert text_of(session["recall_empty"]) == "nothing remembered about that"
    assert text_of(session["remember"]).startswith("remembered (ADD): I work on PostgreSQL 15")
    assert text_of(session["remember_again"]).startswith("already known")
    assert "- I work on PostgreSQL 15" in text_of(session["recall"])
    assert session["remember_empty"].is_error and "fact is empty" in text_of(session["remember_empty"])
    listed_names = [c["name"] for c in session["collections_after_memory"].structured_content["collections"]]
    assert listed_names == [COLLECTION]
    assert session["search_memory"].is_error and "long-term memory" in text_of(session["search_memory"])
    # stored for the configured user, in the same store the CLI reads (the server released its lock)
    listed = ragloop(kb_home, "memory", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [m["text"] for m in json.loads(listed.stdout)] == ["I work on PostgreSQL 15"]
