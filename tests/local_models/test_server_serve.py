"""`local_models.serve` (a child process) and `python -m local_models.server`, without a model."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from local_models.serve import ServerStartError, serve


def test_serve_starts_a_child_server_and_stops_it() -> None:
    with serve("echo", engine="scripted", api_key="k") as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "ping"}])
        assert reply.choices[0].message.content == "ping"
        assert httpx.get(base_url.removesuffix("/v1") + "/health").status_code == 401  # the key is enforced
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url.removesuffix("/v1") + "/health", timeout=5)


def test_serve_reports_the_childs_stderr_when_it_fails() -> None:
    with pytest.raises(ServerStartError) as caught, serve("echo", engine="scripted", n_ctx=10):
        pass  # n_ctx is below the minimum: the child refuses to start
    assert "exited with code 2" in str(caught.value)
    assert "n_ctx" in str(caught.value)


def test_module_help_lists_the_settings_flags() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "local_models.server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--model", "--port", "--n-ctx", "--threads", "--api-key", "--max-queue", "--prompt-lookup"):
        assert flag in out


def test_child_server_exits_when_its_parent_dies() -> None:
    import subprocess
    import time

    code = (
        "import sys, time\n"
        "from local_models.serve import start_server\n"
        "server = start_server('echo', engine='scripted')\n"
        "print(server.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()  # no chance to clean up
        parent.wait(10)
        deadline = time.monotonic() + 60
        while _alive(child):
            assert time.monotonic() < deadline, "the orphaned server is still running"
            time.sleep(0.1)
    finally:
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _ragloop(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from agent.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_serve_model_unknown_model_is_a_clean_error() -> None:
    result = _ragloop("serve-model", "--model", "no-such-model")
    assert result.returncode == 2
    assert "error: Unknown model 'no-such-model'" in result.stderr
    assert "smollm2-135m" in result.stderr  # lists the known names
    assert "Traceback" not in result.stderr


def test_serve_model_port_in_use_is_a_clean_error() -> None:
    from local_models.server.run import bind

    taken = bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        result = _ragloop("serve-model", "--model", "x.gguf", "--port", port)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr  # before any model is loaded
    finally:
        taken.close()
