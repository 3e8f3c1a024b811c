"""The same adapter over a real `chroma run` server on loopback: no local lock, several clients at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from retrieval_support import free_port

from retrieval.errors import RetrievalError
from retrieval.store import open_store
from retrieval.types import Chunk


def test_http_store_round_trip_without_lock(tmp_path: Path, chroma_server: str, chunks: list[Chunk]) -> None:
    with open_store(tmp_path, chroma_server) as writer, open_store(tmp_path / "other", chroma_server) as reader:
        coll = writer.create_collection("served", embedder="fake", dimension=2)
        coll.upsert(chunks[:3], [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
        seen = reader.get_collection("served")
        assert seen.count() == 3
        hits = seen.query([1.0, 0.0], 2, where={"format": "md"})
        assert hits[0][0].id == "c00" and hits[0][0].heading_path == ["Install", "From source"]
        assert "served" in reader.list_collections()
        writer.delete_collection("served")
        assert "served" not in reader.list_collections()
    assert not (tmp_path / "chroma.lock").exists() or not (tmp_path / "chroma").exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="Cannot reach the Chroma server"):
        open_store(tmp_path, f"http://127.0.0.1:{free_port()}")


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="Invalid --chroma-url"):
        open_store(tmp_path, "localhost:8000")
