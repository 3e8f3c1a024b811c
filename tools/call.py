"""One tool call's runtime: progress reporting, cooperative cancellation, and the timeout every call runs under.

A tool that takes a `CallContext` parameter can report progress (`context.progress(...)`; the MCP server turns it
into `notifications/progress`) and should call `context.check()` between steps: after a timeout or a client's
cancellation it raises `ToolCancelledError`, so the work stops at the next step instead of running on unseen.
Python cannot kill a thread: a tool that never checks keeps its thread until it returns, which is why every
built-in bounds its own work (see the calculator) and the long ones check between steps.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")
ProgressFn = Callable[[float, float | None, str | None], None]


class ToolCancelledError(Exception):
    """The call was cancelled (timeout or the caller's request); raised by `CallContext.check()`."""


class CallContext:
    """Handed to tools that ask for it: `progress(done, total, message)`, `check()`, `cancelled`."""

    def __init__(self, on_progress: ProgressFn | None = None) -> None:
        self._on_progress = on_progress
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def check(self) -> None:
        """Raise `ToolCancelledError` when the call was cancelled or timed out (call it between steps)."""
        if self._cancelled.is_set():
            raise ToolCancelledError("the call was cancelled")

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        self.check()
        if self._on_progress is not None:
            self._on_progress(done, total, message)


MAX_WORKERS = 16


class _Workers:
    """Long-lived daemon worker threads. Reused threads matter: a fresh thread per call sets up the numeric
    libraries' per-thread state (torch, OpenMP) on every search, measured about 2x slower than a reused one.
    Daemon threads matter too: a tool still running at shutdown must not keep the process alive."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # an idle worker takes this job
            elif self._threads < self._limit:
                self._threads += 1
                threading.Thread(target=self._work, name=f"ragloop-tool-{self._threads}", daemon=True).start()
            self._jobs.put((future, fn))  # at the limit, the job waits for the next free worker
        return future

    def _work(self) -> None:
        first = True
        while True:
            if not first:
                with self._lock:
                    self._idle += 1
            first = False
            future, fn = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)


_WORKERS = _Workers(MAX_WORKERS)


def run_with_timeout(fn: Callable[[], T], timeout: float | None, context: CallContext) -> T:
    """Run `fn` on a worker thread and wait at most `timeout` seconds (None: no limit). On overrun the context
    is cancelled (cooperative tools stop at their next check) and `TimeoutError` is raised at once."""
    future = _WORKERS.submit(fn)
    try:
        return future.result(timeout)
    except FutureTimeout:
        context.cancel()
        future.cancel()  # if it has not started yet
        raise TimeoutError(f"did not finish within {timeout} s") from None
