"""`local_models.serve` (a child process) and `python -m local_models.server`, without a model."""

from __future__ import annotations

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
