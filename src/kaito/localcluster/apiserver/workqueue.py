"""A de-duplicating work queue with one worker task, for the in-process control loops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable

import structlog

log = structlog.get_logger(__name__)


class WorkQueue:
    """Items added while already pending are processed once; failures are retried after a short delay."""

    def __init__(
        self, name: str, process: Callable[[Hashable], Awaitable[bool]], retry_delay: float = 0.2
    ) -> None:
        self.name = name
        self._process = process
        self._pending: set[Hashable] = set()
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._retry_delay = retry_delay

    def add(self, item: Hashable) -> None:
        if item not in self._pending:
            self._pending.add(item)
            self._queue.put_nowait(item)

    def add_later(self, item: Hashable, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.add, item)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"workqueue-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def idle(self) -> bool:
        return not self._pending

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            self._pending.discard(item)
            try:
                retry = await self._process(item)
            except Exception:
                log.exception("control loop item failed", loop=self.name, item=repr(item))
                retry = True
            if retry:
                self.add_later(item, self._retry_delay)
