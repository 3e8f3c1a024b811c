"""One engine, one worker thread, a bounded FIFO queue.

The event loop never runs engine code: `submit` puts a `Ticket` in the queue and the worker thread
prepares (templates, tokenizes) and runs it, posting `Started`, the engine's events and `Failed`
back to the ticket's asyncio queue with `call_soon_threadsafe`. A cancelled ticket is removed from
the queue at once (its client left while waiting) or, when running, its cancel event stops the
engine between tokens so the next request gets the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from local_models.server.metrics import Metrics
from local_models.types import Engine, Event, FinishEvent, Job, TokenEvent

log = logging.getLogger("local_models.server")

Prepare = Callable[[Engine], Job]


@dataclass
class Started:
    prompt_tokens: int


@dataclass
class Failed:
    error: BaseException


@dataclass
class Skipped:
    """The ticket was cancelled before it ran."""


@dataclass
class ShuttingDown:
    """The server is stopping: the ticket was dropped from the queue, or its generation was stopped."""


Message = Started | Failed | Skipped | ShuttingDown | Event


class ShuttingDownError(Exception):
    """`submit` after `shutdown`: the server takes no new work."""


class QueueFullError(Exception):
    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"{waiting} requests are already waiting")
        self.waiting = waiting
        self.retry_after = retry_after


class Ticket:
    """One request's place in the queue, and the channel its results come back on."""

    def __init__(
        self, prepare: Prepare, endpoint: str, loop: asyncio.AbstractEventLoop, *, stream: bool = True
    ) -> None:
        self.prepare = prepare
        self.endpoint = endpoint
        self.stream = stream  # False: token events are not posted, only the finish (fewer loop wake-ups)
        self.cancel_event = threading.Event()
        self.submitted = time.perf_counter()
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._loop = loop
        self._scheduler: Scheduler | None = None

    def cancel(self) -> None:
        """The client is gone: skip the job if it is still queued, stop it if it runs."""
        if self.cancel_event.is_set():
            return
        self.cancel_event.set()
        if self._scheduler is not None:
            self._scheduler.discard(self)

    def post(self, message: Message) -> None:
        """Called from the worker thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self.messages.put_nowait, message)

    async def next(self) -> Message:
        return await self.messages.get()


class Scheduler:
    def __init__(self, engine: Engine, *, max_queue: int, metrics: Metrics, retry_after: int | None = None) -> None:
        self.engine = engine
        self.max_queue = max_queue
        self.metrics = metrics
        self.retry_after = retry_after
        self._waiting: deque[Ticket] = deque()
        self._cond = threading.Condition()
        self._running: Ticket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._recent_job_seconds = 1.0  # moving average, for Retry-After

    # -- event-loop side ---------------------------------------------------------------------------

    def submit(self, prepare: Prepare, endpoint: str, *, stream: bool = True) -> Ticket:
        ticket = Ticket(prepare, endpoint, asyncio.get_running_loop(), stream=stream)
        with self._cond:
            if self._stopping:
                raise ShuttingDownError("the server is shutting down")
            if len(self._waiting) + (self._running is not None) > self.max_queue:
                raise QueueFullError(len(self._waiting), self._retry_after_locked())
            ticket._scheduler = self
            self._waiting.append(ticket)
            self._ensure_worker_locked()
            self.metrics.set_queue(len(self._waiting), self._running is not None)
            self._cond.notify()
        return ticket

    def discard(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                self.metrics.count_skipped()
                self.metrics.set_queue(len(self._waiting), self._running is not None)
                ticket.post(Skipped())

    @property
    def depth(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None

    def shutdown(self) -> None:
        """Stop taking work, stop the running generation (between tokens) and answer every ticket, running
        or waiting, with `ShuttingDown` at once. Safe to call more than once, from any thread."""
        with self._cond:
            self._stopping = True
            pending = list(self._waiting)
            self._waiting.clear()
            running = self._running
            self._cond.notify_all()
            self.metrics.set_queue(0, running is not None)
        for ticket in pending:
            ticket.cancel_event.set()
            ticket.post(ShuttingDown())
        if running is not None and not running.cancel_event.is_set():
            running.cancel_event.set()
            running.post(ShuttingDown())

    def stop(self, timeout: float = 5.0) -> None:
        """`shutdown`, then wait (up to `timeout` s) for the worker to leave the engine."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker side -------------------------------------------------------------------------------

    def _ensure_worker_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ragloop-engine", daemon=True)
            self._thread.start()

    def _retry_after_locked(self) -> int:
        if self.retry_after is not None:
            return self.retry_after
        return max(1, min(60, math.ceil(self._recent_job_seconds * (len(self._waiting) + 1))))

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                ticket = self._waiting.popleft()
                self._running = ticket
                self.metrics.set_queue(len(self._waiting), True)
            started = time.perf_counter()
            try:
                self._run(ticket)
            except BaseException as exc:  # pragma: no cover - _run reports its own errors
                log.exception("worker failed")
                ticket.post(Failed(exc))
            finally:
                elapsed = time.perf_counter() - started
                with self._cond:
                    self._running = None
                    self._recent_job_seconds = 0.7 * self._recent_job_seconds + 0.3 * elapsed
                    self.metrics.set_queue(len(self._waiting), False)

    def _run(self, ticket: Ticket) -> None:
        if ticket.cancel_event.is_set():  # cancelled between the pop and now: do not even tokenize
            self.metrics.count_skipped()
            ticket.post(Skipped())
            return
        self.metrics.observe_queue_wait(time.perf_counter() - ticket.submitted)
        try:
            job = ticket.prepare(self.engine)
        except Exception as exc:  # EngineError (bad request) or a bug: the handler decides which
            ticket.post(Failed(exc))
            return
        ticket.post(Started(len(job.prompt_tokens)))
        first = True
        try:
            for event in self.engine.run(job, ticket.cancel_event):
                if first and isinstance(event, TokenEvent):
                    self.metrics.observe_first_token(time.perf_counter() - ticket.submitted)
                    first = False
                if isinstance(event, FinishEvent):
                    self.metrics.observe_finish(ticket.endpoint, event)
                if ticket.stream or not isinstance(event, TokenEvent):
                    ticket.post(event)
        except Exception as exc:
            log.error("the engine failed while generating", exc_info=exc)
            ticket.post(Failed(exc))
