"""A running `ragloop mcp` and `ragloop ingest` in another process share one data directory: the server holds the
embedded store's lock only during each call, so the ingest succeeds while the server keeps answering (searches
during the ingest wait for their turn), the server sees the new document afterwards, and nothing is corrupted."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from tools_helpers import COLLECTION, ingest, ragloop, stdio_params, text_of, write_corpus

NEW_DOC = {
    "zebra.md": "# Zebra striping\n\nZebra striping spreads consecutive blocks over several disks, so a RAID array "
    "reads them in parallel.\n"
}


async def _serve_while_ingesting(home: Path, new_docs: Path) -> dict[str, Any]:
    from mcp import Client

    seen: dict[str, Any] = {"during": []}
    async with Client(stdio_params(home, env={"RAGLOOP_MCP_LOCK_WAIT": "120"})) as client:
        first = await client.call_tool("search_knowledge_base", {"query": "zebra striping RAID", "k": 3})
        seen["before"] = [h["source"] for h in first.structured_content["hits"]]
        started = time.monotonic()
        done = False
        result: dict[str, Any] = {}

        async def run_ingest() -> None:
            nonlocal done
            result["ingest"] = await anyio.to_thread.run_sync(
                lambda: ragloop(home, "ingest", str(new_docs), "--collection", COLLECTION, "--json")
            )
            done = True

        async with anyio.create_task_group() as group:
            group.start_soon(run_ingest)
            while not done:
                call = await client.call_tool("search_knowledge_base", {"query": "KV cache", "k": 1})
                seen["during"].append((round(time.monotonic() - started, 2), call.is_error, text_of(call)[:200]))
                await anyio.sleep(0.3)
        seen["ingest"] = result["ingest"]
        after = await client.call_tool("search_knowledge_base", {"query": "zebra striping RAID", "k": 3})
        seen["after"] = [h["source"] for h in after.structured_content["hits"]]
        seen["collections"] = (await client.call_tool("list_collections", {})).structured_content
    return seen


def test_mcp_server_and_cli_ingest_share_the_data_directory(tmp_path: Path, kb_home: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)  # a private copy: this test writes
    new_docs = write_corpus(tmp_path / "new", NEW_DOC)
    seen = anyio.run(_serve_while_ingesting, home, new_docs)

    ingest_run = seen["ingest"]
    assert ingest_run.returncode == 0, ingest_run.stderr
    report = json.loads(ingest_run.stdout)
    assert report["added"] == 1 and report["total_documents"] == 4
    assert not any(source.endswith("zebra.md") for source in seen["before"])
    assert seen["after"][0].endswith("zebra.md")  # the running server sees the new document (and its BM25 terms)
    assert seen["during"], "no search ran while the ingest was running"
    assert all(not is_error for _, is_error, _ in seen["during"]), seen["during"]
    assert [c["documents"] for c in seen["collections"]["collections"]] == [4]

    # and the CLI still reads a consistent store once the server is gone
    done = ragloop(home, "search", "GGUF quantization bits", "--collection", COLLECTION, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hits"][0]["source"].endswith("gguf.md")


def test_cli_ingest_succeeds_while_the_server_idles(tmp_path: Path, kb_home: Path) -> None:
    """The server between calls holds no lock: a second ingest (and a search) in other processes just run."""
    home = tmp_path / "home"
    shutil.copytree(kb_home, home)

    async def scenario() -> tuple[Any, Any]:
        from mcp import Client

        async with Client(stdio_params(home)) as client:
            await client.call_tool("search_knowledge_base", {"query": "fusion", "k": 1})
            report = await anyio.to_thread.run_sync(lambda: ingest(home, write_corpus(tmp_path / "more", NEW_DOC)))
            hits = await client.call_tool("search_knowledge_base", {"query": "zebra", "k": 1, "mode": "bm25"})
        return report, hits

    report, hits = anyio.run(scenario)
    assert report["added"] == 1
    assert hits.structured_content["hits"][0]["source"].endswith("zebra.md")
