"""`ragloop chat` driven through stdin in a subprocess: slash commands, a question, Ctrl-C, EOF."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import ECHO_MODEL, RAGLOOP, REPO, model_flags, ok, ragloop

pytestmark = pytest.mark.slow

THREAD = re.compile(r"^thread ([0-9a-f]+) ·", re.MULTILINE)
FOOTER = "\nSources:\n  ["  # printed under a finished answer (the echoed prompt has "Sources:\n[1]")


def test_chat_commands_and_a_question(demo_home: Path, echo_model_url: str) -> None:
    script = "\n".join(
        ["/help", "What is BM25?", "/sources", "/threads", "/reset", "/sources", "/threads", "/tools", "/bogus", ""]
    )
    done = ok(ragloop(demo_home, "chat", "-c", "demo", *model_flags(echo_model_url, ECHO_MODEL), stdin=script))
    out = done.stdout
    assert "/reset" in out and "/threads" in out  # the help
    [thread_id] = THREAD.findall(done.stderr)
    # the answer, then its numbered sources
    answer_part = out[out.index("[1].\n") :]  # the echo engine quotes source [1] as the answer
    assert "\nSources:\n  [1] " in answer_part
    # /sources: the same sources with their quoted text and chunk ids
    detailed = answer_part[answer_part.index("\nSources:\n", answer_part.index("Sources:") + 1) :]
    assert "chunk " in detailed and "“" in detailed
    # /threads before /reset marks the current thread; after /reset no thread is current
    listings = re.findall(rf"^([ *]) {thread_id}\s+1 turn\(s\)\s+What is BM25\?$", out, re.MULTILINE)
    assert listings == ["*", " "]
    assert "started a new thread" in out
    assert "no answer yet" in out  # /sources right after /reset
    assert "unknown command /bogus" in out
    assert re.search(r"^calculator\s+\S", out, re.MULTILINE)  # /tools lists the built-in tools


def test_chat_resumes_a_thread(demo_home: Path, echo_model_url: str) -> None:
    flags = ["-c", "demo", *model_flags(echo_model_url, ECHO_MODEL)]
    first = ok(ragloop(demo_home, "chat", *flags, stdin="What is BM25?\n"))
    [thread_id] = THREAD.findall(first.stderr)
    second = ok(ragloop(demo_home, "chat", *flags, "--thread", thread_id, stdin="And who made it?\n/threads\n"))
    assert f"thread {thread_id} (1 earlier turn(s))" in second.stderr
    assert re.search(rf"^\* {thread_id}\s+2 turn\(s\)\s+And who made it\?$", second.stdout, re.MULTILINE)


def test_chat_with_the_small_model_verbose(demo_home: Path, small_model_url: str) -> None:
    done = ok(
        ragloop(
            demo_home,
            "chat",
            "-c",
            "demo",
            "--verbose",
            *model_flags(small_model_url),
            stdin="What is BM25?\n/sources\n",
        )
    )
    assert "· route (" in done.stderr and "· save (" in done.stderr  # the node trace
    assert THREAD.search(done.stderr)
    assert done.stdout.strip()


def test_ctrl_c_stops_the_answer_not_the_chat(demo_home: Path, slow_echo_model_url: str) -> None:
    # A child inherits an ignored SIGINT (shells start `cmd &` that way), never a handler: let it see Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [*RAGLOOP, "chat", "-c", "demo", *model_flags(slow_echo_model_url, ECHO_MODEL)],
            cwd=REPO,
            env={**os.environ, "RAGLOOP_HOME": str(demo_home)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(lambda: proc.stdout.read(1), "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        proc.stdin.write("What is BM25?\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 600
        while FOOTER not in "".join(out) and len("".join(out).split()) < 8:  # a few words have streamed
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no answer text streamed"
            time.sleep(0.05)
        assert FOOTER not in "".join(out), "the answer finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        proc.stdin.write("/threads\n")
        proc.stdin.close()
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert "[stopped]" in stderr and "Traceback" not in stderr
    stdout = "".join(out)
    assert FOOTER not in stdout  # the interrupted answer was not finished
    assert "no saved threads yet" in stdout or "turn(s)" in stdout  # the chat went on after Ctrl-C
