"""SIGTERM while the real server (llama.cpp, smollm2-135m) generates: the engine stops first, every client
gets the OpenAI error shape (503 `server_shutting_down`), a stream ends with an error event, and the
process exits promptly instead of waiting out the generation."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import httpx
import pytest

from local_models.serve import start_server
from local_models.testing import wait_until

pytestmark = pytest.mark.slow

COUNTING = ", ".join(str(n) for n in range(1, 40)) + ","  # the model keeps counting: no early end of text


def _body(stream: bool) -> dict[str, Any]:
    return {"prompt": COUNTING, "max_tokens": 1500, "temperature": 0, "stream": stream}


def test_sigterm_while_generating_answers_every_client_and_exits() -> None:
    server = start_server("smollm2-135m", n_ctx=2048, threads=1, max_queue=4)
    try:
        url = f"{server.base_url}/completions"
        stream_lines: list[str] = []
        replies: list[httpx.Response] = []

        def stream() -> None:
            with httpx.stream("POST", url, json=_body(True), timeout=120) as response:
                stream_lines.extend(line for line in response.iter_lines() if line)

        def wait() -> None:
            replies.append(httpx.post(url, json=_body(False), timeout=120))

        streamer = threading.Thread(target=stream)
        streamer.start()
        wait_until(lambda: len(stream_lines) >= 3, "the first streamed tokens", timeout=120)
        waiters = [threading.Thread(target=wait) for _ in range(2)]
        for waiter in waiters:
            waiter.start()
        wait_until(lambda: _health(server.root_url)["queue_depth"] == 2, "two queued requests")

        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)  # a hang guard only: it exits well before (printed below)
        exited = time.monotonic() - sent
        for thread in (streamer, *waiters):
            thread.join(30)
        print(f"exited {exited:.2f} s after SIGTERM with code {server.proc.returncode}")

        assert len(replies) == 2
        for reply in replies:
            assert reply.status_code == 503, reply.text
            assert reply.json()["error"]["code"] == "server_shutting_down"
        events = [line.removeprefix("data: ") for line in stream_lines]
        assert events[-1] == "[DONE]"
        last = json.loads(events[-2])
        assert last["error"]["code"] == "server_shutting_down" and last["error"]["type"] == "server_error"
        assert sum(1 for e in events[:-2] if json.loads(e)["choices"][0]["text"]) > 0  # it had been generating
        assert "Traceback" not in server.stderr_tail(200)
    finally:
        server.stop()
        server.log.close()


def _health(root: str) -> dict[str, Any]:
    return httpx.get(f"{root}/health", timeout=10).json()
