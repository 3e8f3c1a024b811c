"""Fixtures of the memory tests: the real bundled MiniLM embedder, a real `chroma run` server on loopback,
and a `MemoryStore` per backend (embedded Chroma, the Chroma server) for the conformance suite."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.testing import ScriptedChatClient
from memory.service import Memory
from memory.settings import MemorySettings
from memory.store import ChromaMemoryStore
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.store import open_store

CHROMA_BIN = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real `chroma run` server with its own data directory; stopped at the end of the session."""
    exe = str(CHROMA_BIN) if CHROMA_BIN.exists() else shutil.which("chroma")
    assert exe, "the `chroma` CLI (installed with chromadb) is missing from the virtualenv"
    data = tmp_path_factory.mktemp("memory-chroma-server")
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


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, str | None]]:
    """(backend name, home, chroma url): the server case gets a fresh collection name per test."""
    url = request.getfixturevalue("chroma_server") if request.param == "server" else None
    yield request.param, tmp_path, url


@pytest.fixture
def memory_store(
    backend: tuple[str, Path, str | None], embedder: SentenceTransformerEmbedder
) -> Iterator[ChromaMemoryStore]:
    _, home, url = backend
    collection = f"memory-{uuid.uuid4().hex[:8]}"  # the server is shared by the session's tests
    with open_store(home, url) as store:
        yield ChromaMemoryStore(store, embedder, collection=collection)


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[Any]:
    """The embedded Chroma store in the test's home (a `retrieval.store.Store`)."""
    with open_store(tmp_path) as store:
        yield store


@pytest.fixture
def make_memory(embedded_store: Any, embedder: SentenceTransformerEmbedder) -> Callable[..., Memory]:
    """`make_memory(script, user="alice", **settings)` → (Memory over the embedded store, its scripted model)."""

    def factory(script: Any = (), *, user: str = "alice", **settings: Any) -> Memory:
        chat = script if isinstance(script, ScriptedChatClient) else ScriptedChatClient(script)
        store = ChromaMemoryStore(embedded_store, embedder)
        return Memory(store, chat, user=user, settings=MemorySettings(**settings))

    return factory
