"""Fixtures for the model server: the app over `ScriptedEngine` on a real loopback uvicorn (fast), and
the real server with `smollm2-135m` started once per session through `local_models.serve` (slow).

Helpers live in the package (`local_models.testing`), not here: test modules must not import
`conftest`, whose module name other test folders share.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_models.testing import LocalServer, ScriptedEngine, serve_app


@pytest.fixture
def scripted() -> Iterator[LocalServer]:
    """The app over an echoing ScriptedEngine."""
    with serve_app(ScriptedEngine(model_name="scripted")) as running:
        yield running


@pytest.fixture(scope="session")
def real_server() -> Iterator[LocalServer]:
    """`local_models.serve` with the small real model, once per session."""
    from local_models.serve import serve

    with serve("smollm2-135m", n_ctx=2048, threads=2) as base_url:
        running = LocalServer(base_url, None, None)
        try:
            yield running
        finally:
            running.close()
