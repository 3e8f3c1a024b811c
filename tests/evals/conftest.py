"""Session fixtures of the harness tests: a data directory with the demo corpus in the `eval-tiny` collection,
and the project's model server with its model-free echo engine (deterministic, fast) or a real small model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from evals_support import ECHO_MODEL, ragloop, write_tiny_suite


@pytest.fixture(scope="session")
def eval_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RAGLOOP_HOME where the tiny suite's corpus is already ingested (runs then only hash the files)."""
    home = tmp_path_factory.mktemp("eval-home")
    suite_dir = tmp_path_factory.mktemp("ingest-suite")
    done = ragloop(home, "ingest", "retrieval/data/demo_corpus", "--collection", "eval-tiny", "--json")
    assert done.returncode == 0, done.stderr
    del suite_dir
    return home


@pytest.fixture(scope="session")
def echo_url() -> Iterator[str]:
    from local_models.serve import serve

    with serve(ECHO_MODEL, n_ctx=8192, engine="scripted") as url:
        yield url


@pytest.fixture(scope="session")
def slow_echo_url() -> Iterator[str]:
    """The echo engine emitting one word every 50 ms: an answer takes seconds, so a run can be killed mid-item."""
    from local_models.serve import serve

    with serve(ECHO_MODEL, n_ctx=8192, engine="scripted", extra_args=["--token-delay", "0.05"]) as url:
        yield url


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    return write_tiny_suite(tmp_path)
