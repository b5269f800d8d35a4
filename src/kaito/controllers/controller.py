"""The controller: N async workers pull keys from a workqueue and call ``reconcile``; this is the hot loop.

Outcome handling follows controller-runtime: success forgets the key's backoff, ``requeue_after`` schedules
a plain delayed add, ``requeue`` and ordinary exceptions go back rate-limited, and a :class:`TerminalError`
is recorded (metric + Event) but never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from kaito.controllers import metrics
from kaito.controllers.clock import Clock, RealClock
from kaito.controllers.handlers import EnqueueHandler, Mapper, enqueue_self
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey
from kaito.controllers.predicates import Predicate
from kaito.controllers.ratelimit import RateLimiter
from kaito.controllers.workqueue import QueueShutDown, WorkQueue

log = structlog.get_logger(__name__)

Request = ObjectKey
"""What a reconcile is asked about: the (namespace, name) of the primary object."""


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after`` (seconds) wins over ``requeue``; both unset means "done until something changes"."""

    requeue: bool = False
    requeue_after: float | None = None


class TerminalError(Exception):
    """A failure retrying cannot fix (bad input): reported as an Event and a metric, never requeued."""

    def __init__(self, message: str, *, reason: str = "ReconcileFailed") -> None:
        super().__init__(message)
        self.reason = reason


Reconcile = Callable[[Request], Awaitable[Result | None]]


class Recorder(Protocol):
    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None: ...


class Controller:
    """Reconciles keys of one primary resource with ``workers`` concurrent workers (never one key twice)."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        workers: int = 1,
        reconcile_timeout: float | None = None,
        rate_limiter: RateLimiter | None = None,
        recorder: Recorder | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.reconcile_timeout = reconcile_timeout
        self.recorder = recorder
        self._clock = clock or RealClock()
        self.queue: WorkQueue[ObjectKey] = WorkQueue(name, clock=self._clock, rate_limiter=rate_limiter)
        self.primary: Informer | None = None
        self.watched: list[Informer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._log = log.bind(controller=name)
        self._total = {
            r: metrics.RECONCILE_TOTAL.labels(name, r)
            for r in ("success", "error", "requeue", "requeue_after")
        }
        self._errors = metrics.RECONCILE_ERRORS.labels(name)
        self._terminal = metrics.RECONCILE_TERMINAL_ERRORS.labels(name)
        self._time = metrics.RECONCILE_TIME.labels(name)
        self._active = metrics.ACTIVE_WORKERS.labels(name)
        metrics.MAX_CONCURRENT.labels(name).set(workers)

    # -- wiring --------------------------------------------------------------------------------------------
    def for_(self, informer: Informer, *predicates: Predicate) -> Controller:
        """Reconcile objects of ``informer``'s resource: each change enqueues the object's own key."""
        self.primary = informer
        return self.watch(informer, enqueue_self, *predicates)

    def watch(self, informer: Informer, mapper: Mapper = enqueue_self, *predicates: Predicate) -> Controller:
        """Enqueue the keys ``mapper`` returns for every change of ``informer``'s objects that passes."""
        informer.add_handler(EnqueueHandler(self.queue, mapper, predicates))
        self.watched.append(informer)
        return self

    # -- running -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers (the caller has waited for the informers to sync)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._worker(), name=f"{self.name} worker {i}")
                for i in range(self.workers)
            ]

    async def run(self) -> None:
        """Run the workers until they are stopped (cancellation stops them at once)."""
        self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()

    async def stop(self, drain_timeout: float = 30.0) -> bool:
        """Stop taking keys, let in-flight reconciles finish (up to ``drain_timeout``), then stop workers.

        Returns True when every in-flight reconcile finished in time.
        """
        drained = await self.queue.shut_down_with_drain(drain_timeout)
        if self._tasks:
            # Idle workers leave on their own (QueueShutDown); stragglers past the deadline are cancelled.
            _, pending = await asyncio.wait(self._tasks, timeout=0 if not drained else 1.0)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        if not drained:
            self._log.warning("in-flight reconciles cancelled at shutdown deadline", timeout=drain_timeout)
        return drained

    def cancel(self) -> None:
        """Stop at once (leadership lost): cancel in-flight reconciles without waiting."""
        self.queue.shut_down()
        for task in self._tasks:
            task.cancel()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)

    async def _process(self, key: ObjectKey) -> None:
        started = self._clock.now()
        self._active.inc()
        try:
            async with asyncio.timeout(self.reconcile_timeout):
                result = await self.reconcile(key) or Result()
        except asyncio.CancelledError:
            raise
        except TerminalError as error:
            self.queue.forget(key)
            self._terminal.inc()
            self._total["error"].inc()
            self._log.error(
                "reconcile failed terminally", key=str(key), reason=error.reason, error=str(error)
            )
            self._record_terminal(key, error)
        except Exception as error:
            self._errors.inc()
            self._total["error"].inc()
            self.queue.add_rate_limited(key)
            self._log.warning(
                "reconcile failed, will retry",
                key=str(key),
                error=repr(error) if isinstance(error, TimeoutError) else str(error),
                retries=self.queue.num_requeues(key),
                exc_info=not isinstance(error, TimeoutError),
            )
        else:
            if result.requeue_after is not None and result.requeue_after > 0:
                self.queue.forget(key)
                self.queue.add_after(key, result.requeue_after)
                self._total["requeue_after"].inc()
            elif result.requeue:
                self.queue.add_rate_limited(key)
                self._total["requeue"].inc()
            else:
                self.queue.forget(key)
                self._total["success"].inc()
        finally:
            self._active.dec()
            self._time.observe(self._clock.now() - started)

    def _record_terminal(self, key: ObjectKey, error: TerminalError) -> None:
        if self.recorder is None or self.primary is None:
            return
        obj = self.primary.store.get(key)
        if obj is not None:
            self.recorder.event(obj, "Warning", error.reason, str(error))
