"""`ragloop bench mcp`: what the MCP transports cost on top of the search itself, measured side by side.

Contenders, all on the same collection and queries, interleaved query by query so machine noise hits them alike:
- `direct`: the `search_knowledge_base` tool function called in this process (per-call store session, like the
  server does);
- `stdio`: the same tool through `ragloop mcp` over stdio, with the SDK's client;
- `http`: the same through `ragloop mcp --transport http` (streamable HTTP, loopback).
`stdio-noop` / `http-noop`: a trivial tool (calculator "1+1") over each transport: the protocol's own round trip.
Before them, `held-open`: the searcher with the store kept open (what a one-shot CLI search pays, minus start-up):
the cost of opening the store per call. Cold start: from launching the server to the first search result
(process start, imports, embedder load), for each transport.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.context import ToolContext
from tools.knowledge import KnowledgeTools
from tools.sessions import StoreSessions


@dataclass
class McpBenchReport:
    collection: str
    queries: int
    k: int
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    cold_start_ms: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        direct = _p(self.latencies_ms.get("direct", []), 50)
        out = {}
        for name, values in self.latencies_ms.items():
            p50 = _p(values, 50)
            out[name] = {
                "p50_ms": round(p50, 2),
                "p95_ms": round(_p(values, 95), 2),
                "mean_ms": round(statistics.fmean(values), 2) if values else 0.0,
                "ratio_p50_vs_direct": round(p50 / direct, 3) if direct else 0.0,
            }
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "queries": self.queries,
            "k": self.k,
            "summary": self.summary(),
            "cold_start_ms": {key: round(value, 1) for key, value in self.cold_start_ms.items()},
        }

    def table(self) -> str:
        lines = [
            f"search_knowledge_base round trip, collection {self.collection!r}, {self.queries} queries, k={self.k}",
            f"{'path':<10} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9} {'p50 / direct':>13}",
        ]
        for name, row in self.summary().items():
            lines.append(
                f"{name:<10} {row['p50_ms']:>9.2f} {row['p95_ms']:>9.2f} {row['mean_ms']:>9.2f} "
                f"{row['ratio_p50_vs_direct']:>12.3f}x"
            )
        for name, value in self.cold_start_ms.items():
            lines.append(f"cold start {name}: {value / 1000:.2f} s (launch to the first search result)")
        return "\n".join(lines)


def _p(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_mcp_bench(
    *,
    home: Path,
    collection: str,
    queries: list[str],
    k: int,
    sessions: StoreSessions,
    server_command: list[str],
    progress: Callable[[str], None],
) -> McpBenchReport:
    import anyio

    report = McpBenchReport(collection=collection, queries=len(queries), k=k)
    progress("held-open searcher (store kept open)")
    with sessions.open() as session:
        searcher = session.searcher(collection)
        searcher.run(queries[0], k)  # warm
        held: list[float] = []
        for query in queries:
            start = time.perf_counter()
            searcher.run(query, k)
            held.append((time.perf_counter() - start) * 1000)
    report.latencies_ms["held-open"] = held

    kb = KnowledgeTools(ToolContext(sessions=sessions, default_collection=collection))
    anyio.run(_measure, report, kb, home, collection, queries, k, server_command, progress)
    return report


async def _measure(
    report: McpBenchReport,
    kb: KnowledgeTools,
    home: Path,
    collection: str,
    queries: list[str],
    k: int,
    server_command: list[str],
    progress: Callable[[str], None],
) -> None:
    import httpx2
    from mcp import Client, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client

    env = {**os.environ, "RAGLOOP_HOME": str(home)}
    args = {"query": queries[0], "k": k, "collection": collection}

    progress("cold start over stdio")
    started = time.perf_counter()
    stdio = Client(StdioServerParameters(command=server_command[0], args=[*server_command[1:], "mcp"], env=env))
    async with stdio:
        await stdio.call_tool("search_knowledge_base", args)
        report.cold_start_ms["stdio"] = (time.perf_counter() - started) * 1000

        port = _free_port()
        progress(f"cold start over http (port {port})")
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*server_command, "mcp", "--transport", "http", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sys.stderr,
        )
        try:
            await _wait_port(port, proc)
            http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300))
            async with http, Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as web:
                await web.call_tool("search_knowledge_base", args)
                report.cold_start_ms["http"] = (time.perf_counter() - started) * 1000
                kb.search_knowledge_base(queries[0], k, collection)  # warm the direct path too

                progress(f"{len(queries)} queries, interleaved: direct, stdio, http")
                for name in ("direct", "stdio", "http"):
                    report.latencies_ms[name] = []
                for query in queries:
                    call = {"query": query, "k": k, "collection": collection}
                    start = time.perf_counter()
                    kb.search_knowledge_base(query, k, collection)
                    report.latencies_ms["direct"].append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                    result = await stdio.call_tool("search_knowledge_base", call)
                    report.latencies_ms["stdio"].append((time.perf_counter() - start) * 1000)
                    _check(result, "stdio")
                    start = time.perf_counter()
                    result = await web.call_tool("search_knowledge_base", call)
                    report.latencies_ms["http"].append((time.perf_counter() - start) * 1000)
                    _check(result, "http")
                progress("protocol round trip alone (calculator 1+1)")
                for name, client in (("stdio-noop", stdio), ("http-noop", web)):
                    report.latencies_ms[name] = []
                    for _ in queries:
                        start = time.perf_counter()
                        _check(await client.call_tool("calculator", {"expression": "1+1"}), name)
                        report.latencies_ms[name].append((time.perf_counter() - start) * 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _check(result: Any, name: str) -> None:
    if result.is_error:
        text = "".join(getattr(b, "text", "") for b in result.content)
        raise RuntimeError(f"the {name} server answered with an error: {text}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    import anyio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the HTTP server exited with code {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        await anyio.sleep(0.05)
    raise RuntimeError(f"the HTTP server did not listen on port {port} within {timeout} s")
