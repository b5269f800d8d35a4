"""Fault injection for tests: failed requests, latency, dropped watches, forced 410 Gone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kaito.localcluster.apiserver.errors import REASON_BY_CODE, ApiError


@dataclass
class _FailRule:
    code: int
    remaining: int
    skip: int
    verb: str | None
    resource: str | None
    message: str

    def matches(self, verb: str, resource: str) -> bool:
        return (self.verb is None or self.verb == verb) and (
            self.resource is None or self.resource == resource
        )


@dataclass
class _LatencyRule:
    seconds: float
    verb: str | None
    resource: str | None


class Faults:
    """Handle tests use to break the API server on purpose; every method is safe from any thread.

    ``verb`` is a Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection) and
    ``resource`` a plural resource name (``pods``, ``workspaces``); None matches any.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fail: list[_FailRule] = []
        self._latency: list[_LatencyRule] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drop_watches: Callable[[bool], None] | None = None
        self._expire_next: Callable[[int], None] | None = None
        self._expire_history: Callable[[], None] | None = None
        self.injected = 0  # how many requests were failed on purpose

    def bind(
        self,
        loop: asyncio.AbstractEventLoop,
        drop_watches: Callable[[bool], None],
        expire_next: Callable[[int], None],
        expire_history: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._drop_watches = drop_watches
        self._expire_next = expire_next
        self._expire_history = expire_history

    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the API server is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(10)

    # ---- request failures --------------------------------------------------------------------------------
    def fail_requests(
        self,
        code: int,
        count: int = 1,
        *,
        verb: str | None = None,
        resource: str | None = None,
        after: int = 0,
        message: str | None = None,
    ) -> None:
        """Fail the next ``count`` matching requests with ``code`` (409, 429, 500...) after ``after`` pass."""
        text = message or f"injected fault: {REASON_BY_CODE.get(code, code)}"
        with self._lock:
            self._fail.append(_FailRule(code, count, after, verb, resource, text))

    def fail_nth(self, n: int, code: int, *, verb: str | None = None, resource: str | None = None) -> None:
        """Fail only the ``n``-th (1-based) matching request from now."""
        self.fail_requests(code, 1, verb=verb, resource=resource, after=n - 1)

    def add_latency(self, seconds: float, *, verb: str | None = None, resource: str | None = None) -> None:
        with self._lock:
            self._latency.append(_LatencyRule(seconds, verb, resource))

    def clear(self) -> None:
        """Remove all failure and latency rules."""
        with self._lock:
            self._fail.clear()
            self._latency.clear()

    # ---- watches -----------------------------------------------------------------------------------------
    def drop_watches(self, abort: bool = False) -> None:
        """End every open watch: cleanly (clients re-watch) or, with ``abort``, by resetting connections."""
        drop = self._drop_watches
        assert drop is not None
        self._on_loop(lambda: drop(abort))

    def expire_next_watch(self, count: int = 1) -> None:
        """Answer the next ``count`` watch requests with a 410 Gone (Expired) ERROR event."""
        expire = self._expire_next
        assert expire is not None
        self._on_loop(lambda: expire(count))

    def expire_history(self) -> None:
        """Compact all watch history: any resume from an older resourceVersion gets 410 until a relist."""
        assert self._expire_history is not None
        self._on_loop(self._expire_history)

    # ---- used by the server ------------------------------------------------------------------------------
    async def before_request(self, verb: str, resource: str) -> None:
        delay = 0.0
        error: ApiError | None = None
        with self._lock:
            for rule in self._latency:
                if (rule.verb is None or rule.verb == verb) and (
                    rule.resource is None or rule.resource == resource
                ):
                    delay += rule.seconds
            for fail in self._fail:
                if not fail.matches(verb, resource):
                    continue
                if fail.skip > 0:
                    fail.skip -= 1
                    continue
                fail.remaining -= 1
                error = ApiError(fail.code, fail.message, retry_after=1 if fail.code == 429 else None)
                self.injected += 1
                break
            self._fail = [r for r in self._fail if r.remaining > 0]
        if delay:
            await asyncio.sleep(delay)
        if error is not None:
            raise error
