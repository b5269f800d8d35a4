"""The workqueue: deduplicated keys, one worker per key at a time, rate-limited retries and delayed adds.

Semantics follow client-go's workqueue: a key added while it is being processed is marked dirty and handed
out again after ``done``; a key waiting in the queue is never queued twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from kaito.controllers import metrics
from kaito.controllers.clock import Clock, RealClock, TimerHandle
from kaito.controllers.ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down."""


class WorkQueue(Generic[K]):
    """An asyncio workqueue with dedup, per-key exclusivity, rate limiting, delays and metrics."""

    def __init__(
        self, name: str, *, clock: Clock | None = None, rate_limiter: RateLimiter | None = None
    ) -> None:
        self.name = name
        self._clock = clock or RealClock()
        self._limiter = rate_limiter or default_controller_rate_limiter(self._clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}  # key -> when its worker took it
        self._added_at: dict[K, float] = {}
        self._waiting: dict[K, tuple[float, TimerHandle]] = {}  # delayed adds: key -> (due, timer)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle: asyncio.Event | None = None
        self._shutting_down = False
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name)
        self._adds = metrics.WORKQUEUE_ADDS.labels(name)
        self._queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self._work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name)
        metrics.WORKQUEUE_UNFINISHED_WORK.labels(name).set_function(self.unfinished_work_seconds)
        metrics.WORKQUEUE_LONGEST_RUNNING.labels(name).set_function(self.longest_running_seconds)

    # -- adding -------------------------------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue ``key`` unless it already waits; if a worker holds it, hand it out again after ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(key)
        self._added_at[key] = self._clock.now()
        if key in self._processing:
            return
        self._queue.append(key)
        self._depth.inc()
        self._wake_one_getter()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending delay for the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock.now() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._waiting[key] = (due, self._clock.call_later(delay, lambda: self._fire_delayed(key)))

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after the rate limiter's delay (per-key backoff and the global bucket)."""
        self._retries.inc()
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """End ``key``'s failure streak, so its next rate-limited add starts from the base delay."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.retries(key)

    def _fire_delayed(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    # -- taking -------------------------------------------------------------------------------------------
    async def get(self) -> K:
        """Wait for a key and mark it as being processed; the caller must call :meth:`done` with it."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(self.name)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                # Pass a wake-up we may have consumed on to the next getter.
                if future.done() and not future.cancelled():
                    self._wake_one_getter()
                raise
        if self._shutting_down:
            raise QueueShutDown(self.name)
        key = self._queue.popleft()
        self._depth.dec()
        now = self._clock.now()
        self._queue_duration.observe(now - self._added_at.pop(key, now))
        self._processing[key] = now
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` finished; if it was re-added meanwhile it goes back into the queue now."""
        started = self._processing.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._clock.now() - started)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._depth.inc()
            self._wake_one_getter()
        if not self._processing and self._idle is not None:
            self._idle.set()

    def _wake_one_getter(self) -> None:
        while self._getters:
            future = self._getters.popleft()
            if not future.done():
                future.set_result(None)
                return

    # -- shutting down ------------------------------------------------------------------------------------
    def shut_down(self) -> None:
        """Stop accepting keys and release every waiting getter with :class:`QueueShutDown`."""
        self._shutting_down = True
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        self._depth.dec(len(self._queue))
        self._queue.clear()
        self._dirty.clear()
        while self._getters:
            future = self._getters.popleft()
            if not future.done():
                future.set_result(None)

    async def shut_down_with_drain(self, max_wait: float | None = None) -> bool:
        """Shut down, then wait up to ``max_wait`` s for keys in process to be done; True if they were."""
        self.shut_down()
        if not self._processing:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(max_wait):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # -- introspection ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def delayed(self) -> int:
        return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        now = self._clock.now()
        return sum(now - started for started in self._processing.values())

    def longest_running_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return self._clock.now() - min(self._processing.values())
