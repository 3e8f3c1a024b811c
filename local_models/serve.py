"""`serve(...)`: run the model server in a background process on a free loopback port.

    with serve("smollm2-135m", n_ctx=2048) as base_url:      # http://127.0.0.1:PORT/v1
        client = openai.OpenAI(base_url=base_url, api_key="none")

The server runs in a child process (`python -m local_models.server`), so the model's memory and CPU
time stay out of the caller's process. The parent binds the port and hands the listening socket to
the child, so there is no race for a "free" port. `serve` returns once `/health` answers; if the
child exits or never becomes healthy it raises `ServerStartError` with the tail of the child's stderr.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TypedDict, Unpack

import httpx

from local_models.errors import ModelError
from local_models.registry import DEFAULT_CHAT_MODEL
from local_models.server.run import bind


class ServerStartError(ModelError):
    """The background model server did not come up; the message carries its stderr."""


class ServerProcess:
    """A running child server: its base URL, process and log."""

    def __init__(self, proc: subprocess.Popen[bytes], base_url: str, log: IO[bytes], api_key: str | None) -> None:
        self.proc = proc
        self.base_url = base_url
        self.log = log
        self.api_key = api_key

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def stderr_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_bytes().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_healthy(self, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"The model server exited with code {code} before it was ready. Its stderr ends with:\n"
                    f"{self.stderr_tail()}"
                )
            try:
                response = httpx.get(f"{self.root_url}/health", headers=headers, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:  # the child is still loading the model: it accepts nothing yet
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        self.stop()
        raise ServerStartError(
            f"The model server did not answer /health within {timeout:.0f} s ({last}). "
            f"Its stderr ends with:\n{self.stderr_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ServerOptions(TypedDict, total=False):
    """The options of `start_server` and `serve`, declared once."""

    n_ctx: int
    threads: int | None
    api_key: str | None
    max_queue: int | None
    prompt_lookup: int | None
    reuse_prefix: bool | None
    cache_dir: Path | None
    engine: str | None
    extra_args: list[str] | None
    startup_timeout: float


def start_server(
    model: str,
    *,
    n_ctx: int = 4096,
    threads: int | None = None,
    api_key: str | None = None,
    max_queue: int | None = None,
    prompt_lookup: int | None = None,
    reuse_prefix: bool | None = None,
    cache_dir: Path | None = None,
    engine: str | None = None,
    extra_args: list[str] | None = None,
    startup_timeout: float = 180.0,
) -> ServerProcess:
    """Start the server process and wait for it to be healthy. Call `.stop()` when done (or use `serve`)."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    args = [sys.executable, "-m", "local_models.server", "--model", model, "--n-ctx", str(n_ctx)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--fd", str(sock.fileno()), "--parent-pid", str(os.getpid())]
    optional = {
        "--threads": threads,
        "--max-queue": max_queue,
        "--prompt-lookup": prompt_lookup,
        "--cache-dir": cache_dir,
        "--engine": engine,
    }
    args += [part for flag, value in optional.items() if value is not None for part in (flag, str(value))]
    if reuse_prefix is not None:
        args.append("--reuse-prefix" if reuse_prefix else "--no-reuse-prefix")
    args += extra_args or []
    env = {key: value for key, value in os.environ.items() if key != "RAGLOOP_API_KEY"}
    if api_key:
        env["RAGLOOP_API_KEY"] = api_key  # not on the command line, where `ps` would show it
    log = tempfile.NamedTemporaryFile(prefix="ragloop-server-", suffix=".log", delete=False)  # noqa: SIM115
    try:
        # process_group=0: Ctrl-C in a terminal goes to the foreground process group; the server must not get
        # it, so that `ragloop chat` can stop one answer and keep its server (the parent stops it on exit).
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            pass_fds=(sock.fileno(),),
            process_group=0,
        )
    except BaseException:
        log.close()
        raise
    finally:
        sock.close()  # the child has its own copy
    server = ServerProcess(proc, f"http://127.0.0.1:{port}/v1", log, api_key)
    try:
        server.wait_healthy(startup_timeout)
    except BaseException:
        _cleanup(server)
        raise
    return server


@contextlib.contextmanager
def serve(model: str = DEFAULT_CHAT_MODEL, **options: Unpack[ServerOptions]) -> Iterator[str]:
    """Start the server in the background and yield its base URL (`http://127.0.0.1:PORT/v1`).
    The options are `start_server`'s; the server is stopped on exit."""
    server = start_server(model, **options)
    try:
        yield server.base_url
    finally:
        _cleanup(server)


def _cleanup(server: ServerProcess) -> None:
    server.stop()
    server.log.close()
    Path(server.log.name).unlink(missing_ok=True)
