"""The `ingest` tool exists only when the server is started with --allow-ingest; then a client can add files to a
collection (with progress) and search them at once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
from tools_helpers import stdio_params, text_of, write_corpus

NOTE = {"ferns.md": "# Ferns\n\nFerns reproduce with spores instead of seeds; the spores grow on the fronds.\n"}


def test_ingest_tool_only_with_allow_ingest(tmp_path: Path, kb_home: Path) -> None:
    from mcp import Client

    home = tmp_path / "home"
    shutil.copytree(kb_home, home)
    folder = write_corpus(tmp_path / "notes", NOTE)
    progress: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Client(stdio_params(home)) as client:
            seen["default_tools"] = {t.name for t in (await client.list_tools()).tools}
        async with Client(stdio_params(home, "--allow-ingest")) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            seen["ingest_tool"] = tools["ingest"]
            seen["missing"] = await client.call_tool("ingest", {"paths": [str(tmp_path / "nowhere")]})
            seen["report"] = await client.call_tool(
                "ingest", {"paths": [str(folder)], "collection": "notes"}, progress_callback=on_progress
            )
            seen["hits"] = await client.call_tool(
                "search_knowledge_base", {"query": "spores", "k": 1, "collection": "notes"}
            )
        return seen

    seen = anyio.run(scenario)
    assert "ingest" not in seen["default_tools"]
    annotations = seen["ingest_tool"].annotations
    assert annotations.read_only_hint is False and annotations.destructive_hint is False
    assert seen["missing"].is_error and "No such file or directory" in text_of(seen["missing"])
    report = seen["report"].structured_content
    assert report["collection"] == "notes" and report["report"]["added"] == 1
    assert progress and "ingesting 1 path(s) into notes" in (progress[0] or "")
    assert seen["hits"].structured_content["hits"][0]["source"].endswith("ferns.md")
