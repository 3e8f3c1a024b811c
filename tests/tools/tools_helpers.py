"""Helpers of the tools/MCP tests: the real `ragloop` entry point in subprocesses, a tiny corpus, MCP clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("ragloop")
RAGLOOP = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from agent.cli import main; main()"]
COLLECTION = "kbase"

CORPUS = {
    "fusion.md": "# Rank fusion\n\n## Reciprocal rank fusion\n\nReciprocal rank fusion adds 1/(60 + rank) for every "
    "ranking a document appears in, so documents found by both BM25 and dense search rise to the top.\n",
    "cache.md": "# The KV cache\n\nThe KV cache keeps the keys and values of earlier tokens, so each new token "
    "costs one attention row instead of recomputing the whole prefix.\n",
    "gguf.md": "# GGUF files\n\nGGUF is the file format of llama.cpp. Q4_K_M quantization stores weights in about "
    "4.8 bits each, which makes a 0.5B model about 490 MB.\n",
}


def env_for(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "RAGLOOP_HOME": str(home), "HF_HUB_OFFLINE": "1", **(extra or {})}


def ragloop(home: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [*RAGLOOP, *args],
        cwd=REPO,
        env=env_for(home, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_corpus(folder: Path, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or CORPUS).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def ingest(home: Path, folder: Path, collection: str = COLLECTION) -> dict[str, Any]:
    done = ragloop(home, "ingest", str(folder), "--collection", collection, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def stdio_params(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=RAGLOOP[0],
        args=[*RAGLOOP[1:], "mcp", "--collection", COLLECTION, *args],
        env=env_for(home, env),
        cwd=str(REPO),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def text_of(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)
