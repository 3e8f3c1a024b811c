"""Session fixtures of the CLI tests: a data directory with the demo corpus ingested once, and one real
local model server (smollm2-135m) that every `ragloop ask/chat` subprocess reaches through --model-url."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import ECHO_MODEL, SMALL_MODEL, json_out, ragloop

from retrieval.ingest import DEMO_CORPUS


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RAGLOOP_HOME with the bundled demo corpus in the `demo` collection (ingested by the real CLI)."""
    home = tmp_path_factory.mktemp("ragloop-home")
    report = json_out(ragloop(home, "ingest", str(DEMO_CORPUS), "--collection", "demo", "--json"))
    assert report["added"] >= 15 and report["total_chunks"] > 0
    return home


@pytest.fixture(scope="session")
def small_model_url() -> Iterator[str]:
    """Base URL of the project's model server running smollm2-135m (loaded once per session)."""
    from local_models.serve import serve

    with serve(SMALL_MODEL, n_ctx=4096) as url:
        yield url


@pytest.fixture(scope="session")
def echo_model_url() -> Iterator[str]:
    """The same server with its model-free scripted engine, which echoes the last user message; an answer
    prompt (numbered sources) gets the first sentence of source [1], cited: citations are deterministic."""
    from local_models.serve import serve

    with serve(ECHO_MODEL, n_ctx=8192, engine="scripted") as url:
        yield url


@pytest.fixture(scope="session")
def slow_echo_model_url() -> Iterator[str]:
    """The echo engine emitting one word every 50 ms, so an answer can be interrupted half-way."""
    from local_models.serve import serve

    with serve(ECHO_MODEL, n_ctx=8192, engine="scripted", extra_args=["--token-delay", "0.05"]) as url:
        yield url
