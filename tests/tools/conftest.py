"""Fixtures of the tools/MCP tests: one data directory with a tiny corpus ingested by the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools_helpers import ingest, write_corpus


@pytest.fixture(scope="session")
def kb_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RAGLOOP_HOME with the three-file corpus in the `kbase` collection (read-only for the tests that share it)."""
    root = tmp_path_factory.mktemp("tools-kb")
    report = ingest(root / "home", write_corpus(root / "docs"))
    assert report["added"] == 3
    return root / "home"
