"""Shared fixtures of the retrieval tests: the real bundled MiniLM embedder, a real `chroma run` server on
loopback, and a small seeded collection. Kept small on purpose; tests build what else they need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from retrieval_support import free_port

from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.types import Chunk

CHROMA_BIN = Path(sys.executable).with_name("chroma")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The default (bundled, offline) all-MiniLM-L6-v2, loaded once per session."""
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real `chroma run` server on 127.0.0.1 with its own data directory; stopped at the end."""
    exe = str(CHROMA_BIN) if CHROMA_BIN.exists() else shutil.which("chroma")
    assert exe, "the `chroma` CLI (installed with chromadb) is missing from the virtualenv"
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma run exited: {(data / 'server.log').read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


SAMPLE_TEXTS: list[tuple[str, str, list[str], int | None, str]] = [
    # (source, title, heading path, page, text)
    (
        "guide/install.md",
        "Install",
        ["Install", "From source"],
        None,
        "Build the project from source with make install; it creates a virtualenv and installs torch CPU.",
    ),
    (
        "guide/install.md",
        "Install",
        ["Install", "Docker"],
        None,
        "A Docker image is available; mount the data directory as a volume to keep the vector store.",
    ),
    (
        "guide/search.md",
        "Search",
        ["Search", "Hybrid"],
        None,
        "Hybrid search fuses BM25 keyword ranking with dense embeddings using reciprocal rank fusion.",
    ),
    (
        "guide/search.md",
        "Search",
        ["Search", "Filters"],
        None,
        "Metadata filters restrict results to one source file or to a page range of a PDF.",
    ),
    (
        "papers/raft.pdf",
        "Raft consensus",
        [],
        1,
        "Raft is a consensus algorithm: a leader replicates the log to followers and commits entries.",
    ),
    (
        "papers/raft.pdf",
        "Raft consensus",
        [],
        2,
        "Leader election in Raft uses randomized timeouts so that split votes are rare.",
    ),
    (
        "notes/cooking.txt",
        "Bread",
        [],
        None,
        "Sourdough bread needs a starter, flour, water and salt, and a long cold fermentation.",
    ),
    (
        "notes/cooking.txt",
        "Bread",
        [],
        None,
        "Sourdough bread needs a starter, flour, water and salt, and a long cold fermentation overnight.",
    ),
]


def sample_chunks() -> list[Chunk]:
    return [
        Chunk(
            id=f"c{i:02d}",
            text=text,
            doc_id=source,
            source=source,
            title=title,
            heading_path=heading,
            page=page,
            start=0,
            end=len(text),
            doc_hash=f"h-{source}",
            metadata={"format": source.rsplit(".", 1)[-1]},
        )
        for i, (source, title, heading, page, text) in enumerate(SAMPLE_TEXTS)
    ]


def seed(home: Path, embedder: SentenceTransformerEmbedder, name: str = "docs", chroma_url: str | None = None) -> None:
    """Store the sample chunks (with real embeddings) and their BM25 index in `name`."""
    from retrieval.bm25 import rebuild_index
    from retrieval.store import open_store

    chunks = sample_chunks()
    with open_store(home, chroma_url) as store:
        coll = store.create_collection(name, embedder=embedder.name, dimension=embedder.dimension)
        coll.upsert(chunks, embedder.embed([c.text for c in chunks]))
        rebuild_index(home, coll)


@pytest.fixture
def seeded_home(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Path:
    """A RAGLOOP_HOME whose embedded store has the sample chunks in collection "docs"."""
    home = tmp_path / "home"
    seed(home, embedder)
    return home


@pytest.fixture
def chunks() -> list[Chunk]:
    """Fresh sample chunks (ids c00..c07; c06 and c07 are near-duplicates)."""
    return sample_chunks()


@pytest.fixture(name="seed")
def seed_fixture() -> object:
    """The `seed(home, embedder, name="docs", chroma_url=None)` helper, for tests that need their own store."""
    return seed
