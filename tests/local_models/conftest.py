"""Fixtures for the model server: the app over `ScriptedEngine` on a real loopback uvicorn (fast), and
the real server with `smollm2-135m` started once per session through `local_models.serve` (slow)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from local_models.server import ServerSettings, create_app
from local_models.server.run import bind
from local_models.testing import ScriptedEngine

SMALL_MODEL = "smollm2-135m"


@dataclass
class Running:
    base_url: str  # http://127.0.0.1:PORT/v1
    engine: Any
    app: Any
    api_key: str | None = None
    clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("api_key", self.api_key or "unused")
        client = openai.OpenAI(base_url=self.base_url, **kwargs)
        self.clients.append(client)  # closed with the server, so no socket is left to the garbage collector
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def metrics(self) -> str:
        return httpx.get(f"{self.root}/metrics", headers=self.headers(), timeout=10).text


def metric(text: str, name: str) -> float:
    """The value of one sample line of the Prometheus text (`name` includes any labels); 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll until `condition()` holds; fail (not hang) after a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def run_app(engine: Any, **settings: Any) -> Iterator[Running]:
    """Serve `create_app(settings, engine)` with uvicorn in a thread on a free loopback port."""
    app = create_app(ServerSettings(model=engine.model_name, **settings), engine=engine)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    running = Running(f"http://127.0.0.1:{port}/v1", engine, app, settings.get("api_key"))
    try:
        wait_until(lambda: server.started, "the test server to start")
        yield running
    finally:
        running.close()
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def scripted() -> Iterator[Running]:
    """The app over an echoing ScriptedEngine."""
    with run_app(ScriptedEngine(model_name="scripted")) as running:
        yield running


@pytest.fixture(scope="session")
def real_server() -> Iterator[Running]:
    """`local_models.serve` with the small real model, once per session."""
    from local_models.serve import serve

    with serve(SMALL_MODEL, n_ctx=2048, threads=2) as base_url:
        running = Running(base_url, None, None)
        try:
            yield running
        finally:
            running.close()
