"""One tool call's runtime: progress reporting, cooperative cancellation, and the timeout every call runs under.

A tool that takes a `CallContext` parameter can report progress (`context.progress(...)`; the MCP server turns it
into `notifications/progress`) and should call `context.check()` between steps: after a timeout or a client's
cancellation it raises `ToolCancelledError`, so the work stops at the next step instead of running on unseen.
Python cannot kill a thread: a tool that never checks keeps its thread until it returns, which is why every
built-in bounds its own work (see the calculator) and the long ones check between steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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


def run_with_timeout(fn: Callable[[], T], timeout: float | None, context: CallContext) -> T:
    """Run `fn` in a worker thread and wait at most `timeout` seconds (None: no limit). On overrun the context
    is cancelled (cooperative tools stop at their next check) and `TimeoutError` is raised at once."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="ragloop-tool", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        context.cancel()
        raise TimeoutError(f"did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
