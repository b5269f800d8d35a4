"""A de-duplicating work queue with delayed requeue, and the Controller loop that drains it."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

import structlog

log = structlog.get_logger(__name__)


class Controller(ABC):
    """Reconciles keys one at a time; a failing key is retried with back-off, a key queued twice runs once."""

    name = "controller"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        """Reconcile `key` again after `delay` seconds (an earlier pending timer wins)."""
        timer = self._timers.get(key)
        loop = asyncio.get_running_loop()
        if timer is not None and not timer.cancelled() and timer.when() <= loop.time() + delay:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_later(max(delay, 0.0), self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def run(self) -> None:
        try:
            while True:
                key = await self._queue.get()
                self._queued.discard(key)
                try:
                    await self.reconcile(key)
                    self._failures.pop(key, None)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    failures = self._failures.get(key, 0) + 1
                    self._failures[key] = failures
                    log.info("controller.retry", controller=self.name, key=key, error=_describe(error))
                    self.enqueue_after(key, min(0.05 * 2**failures, 5.0))
        finally:
            for timer in self._timers.values():
                timer.cancel()

    @abstractmethod
    async def reconcile(self, key: str) -> None: ...


def _describe(error: Exception) -> str:
    """ApiException's repr is empty; name its status, reason and body."""
    status = getattr(error, "status", None)
    if status is not None:
        return (
            f"{type(error).__name__}({status} {getattr(error, 'reason', '')}: {getattr(error, 'body', '')})"
        )
    return repr(error)
