"""One worker, FIFO order, bounded queue (503 + Retry-After), and disconnects that free the model."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from local_models.server.metrics import sample as metric
from local_models.testing import LocalServer, ScriptedEngine, serve_app, wait_until


def chat(server: LocalServer, content: str, **extra: Any) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)


def depth(server: LocalServer) -> int:
    return int(httpx.get(f"{server.root}/health", timeout=10).json()["queue_depth"])


def raw_request(server: LocalServer, content: str) -> socket.socket:
    """Send a chat request on a bare socket, so the test decides exactly when the client leaves."""
    body = json.dumps({"messages": [{"role": "user", "content": content}]}).encode()
    host, port = server.root.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def test_full_queue_is_503_with_retry_after_and_recovers() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="m", gate=gate)
    with serve_app(engine, max_queue=1) as server, ThreadPoolExecutor(2) as pool:
        running = pool.submit(chat, server, "first")
        wait_until(engine.running.is_set, "the first job to run")
        waiting = pool.submit(chat, server, "second")
        wait_until(lambda: depth(server) == 1, "the second job to queue")

        rejected = chat(server, "third")
        assert rejected.status_code == 503
        assert int(rejected.headers["Retry-After"]) >= 1
        error = rejected.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "server_overloaded")
        assert "--max-queue 1" in error["message"]

        gate.set()
        assert running.result().json()["choices"][0]["message"]["content"] == "first"
        assert waiting.result().json()["choices"][0]["message"]["content"] == "second"
        assert chat(server, "fourth").status_code == 200  # serving again
        assert engine.max_parallel_runs == 1
        assert [j.extra["messages"][0]["content"] for j in engine.jobs] == ["first", "second", "fourth"]
        assert metric(server.metrics(), 'ragloop_requests_total{endpoint="/v1/chat/completions",status="503"}') == 1


def test_requests_run_one_at_a_time_in_arrival_order() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="m", gate=gate)
    with serve_app(engine, max_queue=8) as server, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(chat, server, "job0")]
        wait_until(engine.running.is_set, "the first job to run")
        for n in range(1, 4):
            futures.append(pool.submit(chat, server, f"job{n}"))
            wait_until(lambda n=n: depth(server) == n, f"job{n} to queue")
        gate.set()
        answers = [f.result().json()["choices"][0]["message"]["content"] for f in futures]
    assert answers == ["job0", "job1", "job2", "job3"]
    assert [j.extra["messages"][0]["content"] for j in engine.jobs] == answers
    assert engine.max_parallel_runs == 1


def test_eight_concurrent_requests_are_all_answered() -> None:
    engine = ScriptedEngine(model_name="m", token_delay=0.002)
    with serve_app(engine, max_queue=8) as server, ThreadPoolExecutor(8) as pool:
        barrier = threading.Barrier(8)

        def one(n: int) -> httpx.Response:
            barrier.wait()
            return chat(server, f"request number {n}")

        responses = list(pool.map(one, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [
        f"request number {n}" for n in range(8)
    ]
    assert engine.runs == 8 and engine.max_parallel_runs == 1


def test_disconnected_stream_cancels_its_job_and_frees_the_model() -> None:
    long_reply = " ".join(f"w{n}" for n in range(2000))
    engine = ScriptedEngine([long_reply], model_name="m", token_delay=0.005)
    with serve_app(engine) as server:
        body = {"messages": [{"role": "user", "content": "talk"}], "stream": True}
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", f"{server.base_url}/chat/completions", json=body) as r,
        ):
            seen = 0
            for line in r.iter_lines():
                if line.startswith("data: ") and "w1" in line:
                    seen += 1
                    break
        assert seen == 1
        # the client is gone: the next request gets the model
        assert chat(server, "next please").json()["choices"][0]["message"]["content"] == "next please"
        first = engine.finished[0]
        assert first.finish_reason == "cancelled"
        assert first.usage.completion_tokens < 2000
        text = server.metrics()
        assert metric(text, 'ragloop_finished_total{endpoint="/v1/chat/completions",reason="cancelled"}') == 1


def test_client_leaving_a_running_plain_request_cancels_it() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="m", gate=gate)
    with serve_app(engine) as server:
        sock = raw_request(server, "never mind")
        wait_until(engine.running.is_set, "the job to run")
        sock.close()
        wait_until(lambda: len(engine.finished) == 1, "the job to stop")
        assert engine.finished[0].finish_reason == "cancelled"
        gate.set()
        assert chat(server, "after").status_code == 200


def test_client_leaving_while_queued_is_skipped() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="m", gate=gate)
    with serve_app(engine) as server, ThreadPoolExecutor(1) as pool:
        first = pool.submit(chat, server, "first")
        wait_until(engine.running.is_set, "the first job to run")
        sock = raw_request(server, "impatient")
        wait_until(lambda: depth(server) == 1, "the second request to queue")
        sock.close()
        wait_until(lambda: metric(server.metrics(), "ragloop_requests_skipped_total") == 1, "the skip")
        assert depth(server) == 0
        gate.set()
        assert first.result().status_code == 200
        assert chat(server, "third").status_code == 200
    assert [j.extra["messages"][0]["content"] for j in engine.jobs] == ["first", "third"]  # never prepared
