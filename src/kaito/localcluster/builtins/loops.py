"""The long-running tasks of a local-cluster component: informers first (until their caches sync), then
the control loops that read those caches; stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from kaito.localcluster.builtins.informer import Informer


class Loop(Protocol):
    name: str

    def run(self) -> Coroutine[Any, Any, None]: ...


class Loops:
    """Starts informers and loops as named tasks; `stop` cancels and awaits every one of them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, informers: Iterable[Informer], loops: Iterable[Loop]) -> None:
        informers = list(informers)
        for informer in informers:
            name = f"{self.prefix}-{informer.resource.plural}"
            self._tasks.append(asyncio.create_task(informer.run(), name=name))
        await asyncio.gather(*(informer.synced.wait() for informer in informers))
        for loop in loops:
            self._tasks.append(asyncio.create_task(loop.run(), name=loop.name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
