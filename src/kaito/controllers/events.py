"""An Event recorder: core/v1 Events written in the background, deduplicated and rate limited.

The same object + type + reason + message within ``dedup_window`` bumps ``count`` and ``lastTimestamp`` of
the existing Event instead of creating another; repeats that arrive before the write coalesce into it; and
a per-object token bucket (client-go's spam filter: burst 25, one more every 5 minutes) stops a hot loop
from flooding the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import structlog

from kaito.controllers import metrics
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.clock import Clock, RealClock
from kaito.controllers.errors import ApiError, NotFoundError
from kaito.controllers.objects import Obj, meta
from kaito.controllers.ratelimit import TokenBucket
from kaito.controllers.resource import EVENTS

log = structlog.get_logger(__name__)

EventKey = tuple[str, str, str, str, str, str, str]  # kind, namespace, name, uid, type, reason, message


@dataclass
class _Written:
    name: str
    namespace: str
    count: int
    first_timestamp: str
    seen_at: float


@dataclass
class _Pending:
    involved: JSON
    type_: str
    reason: str
    message: str
    repeats: int = 1


def _timestamp(clock: Clock) -> str:
    return clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Records Events about objects without ever blocking the caller."""

    def __init__(
        self,
        client: KubeClient,
        component: str,
        *,
        host: str | None = None,
        clock: Clock | None = None,
        dedup_window: float = 600.0,
        burst: int = 25,
        refill_seconds: float = 300.0,
        max_pending: int = 1000,
    ) -> None:
        self.client = client
        self.component = component
        self.host = host or socket.gethostname()
        self._clock = clock or RealClock()
        self.dedup_window = dedup_window
        self._burst = burst
        self._refill_qps = 1.0 / refill_seconds
        self._max_pending = max_pending
        self._buckets: dict[str, TokenBucket] = {}
        self._written: dict[EventKey, _Written] = {}
        self._pending: dict[EventKey, _Pending] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Queue an Event about ``obj`` (type ``Normal`` or ``Warning``)."""
        m = meta(obj)
        involved: JSON = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "namespace": m.get("namespace", ""),
            "name": m.get("name", ""),
            "uid": m.get("uid", ""),
            "resourceVersion": m.get("resourceVersion", ""),
        }
        key: EventKey = (
            involved["kind"],
            involved["namespace"],
            involved["name"],
            involved["uid"],
            type_,
            reason,
            message,
        )
        pending = self._pending.get(key)
        if pending is not None:
            pending.repeats += 1
            return
        if len(self._pending) >= self._max_pending or not self._take_token(involved):
            metrics.EVENTS_DROPPED.labels(reason).inc()
            return
        self._pending[key] = _Pending(involved, type_, reason, message)
        self._idle.clear()
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="event recorder")

    def _take_token(self, involved: JSON) -> bool:
        object_id = involved["uid"] or f"{involved['kind']}/{involved['namespace']}/{involved['name']}"
        bucket = self._buckets.get(object_id)
        if bucket is None:
            bucket = self._buckets[object_id] = TokenBucket(self._refill_qps, self._burst, self._clock)
        return bucket.try_take()

    async def flush(self, max_wait: float | None = 10.0) -> None:
        """Wait until everything queued so far is written (or dropped after an error)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_wait):
                await self._idle.wait()

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            key = next(iter(self._pending))
            pending = self._pending.pop(key)
            try:
                await self._write(key, pending)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event write failed", reason=pending.reason, error=str(error))

    async def _write(self, key: EventKey, pending: _Pending) -> None:
        now = self._clock.now()
        timestamp = _timestamp(self._clock)
        written = self._written.get(key)
        if written is not None and now - written.seen_at <= self.dedup_window:
            count = written.count + pending.repeats
            patch = {"count": count, "lastTimestamp": timestamp}
            try:
                await self.client.patch(EVENTS, written.name, patch, namespace=written.namespace)
                self.writes += 1
                written.count, written.seen_at = count, now
                return
            except NotFoundError:
                pass  # the Event expired (TTL); write a fresh one
        namespace = pending.involved["namespace"] or "default"
        name = f"{pending.involved['name'] or 'event'}.{self._clock.wall().timestamp() * 1e9:.0f}"
        name = f"{name[:200]}{len(self._written) % 1000:03d}"
        body: JSON = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": pending.involved,
            "type": pending.type_,
            "reason": pending.reason,
            "message": pending.message,
            "count": pending.repeats,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "source": {"component": self.component, "host": self.host},
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        try:
            await self.client.create(EVENTS, body, namespace)
        except ApiError as error:
            if error.status == 403 and "being terminated" in error.message:
                return  # the namespace is going away; nothing to tell
            raise
        self.writes += 1
        self._written[key] = _Written(name, namespace, pending.repeats, timestamp, now)
        if len(self._written) > 4096:  # forget the oldest entries; a stale miss only costs a new Event
            for old in list(self._written)[:1024]:
                del self._written[old]
