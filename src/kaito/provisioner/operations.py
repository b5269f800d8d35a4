"""Cloud operations in flight, one per NodeClaim, run as tasks so no reconcile worker waits on the cloud.

A reconcile starts an operation (create or delete) and returns; when the task finishes, the tracker calls
`on_done(name)` (which enqueues the NodeClaim) and the next reconcile collects the outcome. Failed
launches are retried with per-NodeClaim exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from kaito.provisioner.cloud import CloudError, Instance

log = structlog.get_logger(__name__)

OperationKind = Literal["create", "delete"]


@dataclass
class CloudOperation:
    """One create or delete running for a NodeClaim."""

    kind: OperationKind
    task: asyncio.Task[Instance | None]
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> bool:
        return self.task.done()

    def outcome(self) -> tuple[Instance | None, CloudError | None]:
        """The finished operation's instance (creates) or its error; unexpected exceptions become errors."""
        if self.task.cancelled():
            return None, CloudError("Canceled", f"the {self.kind} was canceled")
        exc = self.task.exception()
        if exc is None:
            return self.task.result(), None
        if isinstance(exc, CloudError):
            return None, exc
        return None, CloudError(type(exc).__name__, str(exc) or repr(exc))


class OperationTracker:
    """Holds at most one operation per NodeClaim name, plus each name's launch-failure count."""

    def __init__(
        self,
        on_done: Callable[[str], None],
        *,
        retry_base_s: float = 5.0,
        retry_max_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_done = on_done
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._operations: dict[str, CloudOperation] = {}
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._permanent: dict[str, int | None] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._operations

    def get(self, name: str) -> CloudOperation | None:
        return self._operations.get(name)

    def start(
        self, name: str, kind: OperationKind, coro: Coroutine[Any, Any, Instance | None]
    ) -> CloudOperation:
        """Run `coro` for `name`; there must be no other operation for it."""
        if name in self._operations:
            coro.close()
            raise RuntimeError(f"an operation for {name!r} is already running")
        task = asyncio.create_task(coro, name=f"provisioner {kind} {name}")
        operation = CloudOperation(kind=kind, task=task)
        self._operations[name] = operation
        task.add_done_callback(lambda _: self._finished(name, operation))
        return operation

    def _finished(self, name: str, operation: CloudOperation) -> None:
        if self._operations.get(name) is operation and not operation.task.cancelled():
            self._on_done(name)

    def take(self, name: str) -> CloudOperation | None:
        """Remove and return the operation for `name` if it has finished."""
        operation = self._operations.get(name)
        if operation is None or not operation.done:
            return None
        del self._operations[name]
        return operation

    async def cancel(self, name: str) -> None:
        """Stop waiting on the operation for `name` (the cloud side keeps going; the next step adopts it)."""
        operation = self._operations.pop(name, None)
        if operation is None:
            return
        operation.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await operation.task

    def forget(self, name: str) -> None:
        """Drop backoff state of a NodeClaim that is gone."""
        self._failures.pop(name, None)
        self._retry_at.pop(name, None)
        self._permanent.pop(name, None)

    def record_permanent_failure(self, name: str, generation: int | None) -> None:
        """A launch that cannot succeed until the NodeClaim changes (its generation moves on)."""
        self._permanent[name] = generation

    def failed_permanently(self, name: str, generation: int | None) -> bool:
        return name in self._permanent and self._permanent[name] == generation

    def record_failure(self, name: str) -> float:
        """Count a failed launch; returns the delay before the next attempt (exponential, capped)."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        delay = min(self._retry_max_s, self._retry_base_s * 2.0 ** (failures - 1))
        self._retry_at[name] = self._clock() + delay
        return delay

    def record_success(self, name: str) -> None:
        self.forget(name)

    def retry_in(self, name: str) -> float:
        """Seconds until the next launch attempt is allowed (0 when it may go now)."""
        return max(0.0, self._retry_at.get(name, 0.0) - self._clock())

    def failures(self, name: str) -> int:
        return self._failures.get(name, 0)

    async def close(self) -> None:
        """Cancel every operation (process shutdown); the cloud side is adopted after restart."""
        operations = list(self._operations.values())
        self._operations.clear()
        for operation in operations:
            operation.task.cancel()
        await asyncio.gather(*(op.task for op in operations), return_exceptions=True)
