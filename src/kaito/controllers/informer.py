"""Informers: list + watch one resource into a :class:`Store` and fan changes out to event handlers.

Level-triggered like client-go's reflector: a paginated list seeds the store, a watch from the list's
resourceVersion keeps it current (bookmarks move the version forward), a dropped watch resumes from the
last version seen, and a 410 Gone relists and replays the difference as add/update/delete so no change is
ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from kaito.controllers.backoff import Backoff
from kaito.controllers.cache import IndexFunc, Store
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.clock import Clock, RealClock
from kaito.controllers.errors import ApiError, GoneError
from kaito.controllers.objects import FrozenDict, Obj, key_of, resource_version_of
from kaito.controllers.resource import Resource

log = structlog.get_logger(__name__)


class EventHandler(Protocol):
    """Receives cache changes; called synchronously on the event loop, so it must only enqueue."""

    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


Transform = Callable[[JSON], JSON]
"""Applied to every object before it is cached (it may edit in place); the default drops managedFields."""


def strip_managed_fields(obj: JSON) -> JSON:
    """Drop ``metadata.managedFields`` (often the largest part of an object; controllers never read it)."""
    metadata = obj.get("metadata")
    if metadata is not None:
        metadata.pop("managedFields", None)
    return obj


class _Relist(Exception):
    """The watch cannot resume from our resourceVersion."""


class Informer:
    """Keeps :attr:`store` in step with the API server for one resource, namespace and selector."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resync_period: float | None = None,
        page_size: int = 500,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        watch_timeout: tuple[int, int] = (300, 600),
        transform: Transform | None = strip_managed_fields,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        self.store = Store()
        for name, func in (indexers or {}).items():
            self.store.add_indexer(name, func)
        self._clock = clock or RealClock()
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._resource_version = ""
        self._watch_timeout = watch_timeout
        self._transform = transform
        self._backoff = Backoff(clock=self._clock)
        self._task: asyncio.Task[None] | None = None
        self.relists = 0
        self.watch_restarts = 0
        self._log = log.bind(resource=str(resource), namespace=self.namespace or "")

    # -- wiring --------------------------------------------------------------------------------------------
    def add_handler(self, handler: EventHandler) -> None:
        """Register ``handler``; when the cache is already filled it first gets an add per cached object."""
        self._handlers.append(handler)
        if self._synced.is_set():
            for obj in self.store.objects():
                handler.on_add(obj)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self.store.add_indexer(name, func)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    @property
    def resource_version(self) -> str:
        return self._resource_version

    async def wait_for_sync(self, max_wait: float | None = None) -> bool:
        try:
            async with asyncio.timeout(max_wait):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self.resource}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """List, then watch forever; relist on 410, back off (jittered) on any other failure."""
        resync = asyncio.create_task(self._resync_loop()) if self.resync_period else None
        try:
            need_list = True
            while True:
                try:
                    if need_list:
                        await self._list()
                        need_list = False
                    started = self._clock.now()
                    if await self._watch() or self._clock.now() - started > 1.0:
                        self._backoff.reset()
                    else:  # a watch that ends at once with nothing in it: do not spin on it
                        await self._clock.sleep(self._backoff.next_delay())
                except (_Relist, GoneError):
                    self._log.info("watch expired, relisting", resource_version=self._resource_version)
                    need_list = True
                    self.relists += 1
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    delay = self._backoff.next_delay()
                    self.watch_restarts += 1
                    self._log.warning(
                        "list/watch failed, backing off", error=repr(error), delay=round(delay, 2)
                    )
                    await self._clock.sleep(delay)
        finally:
            if resync is not None:
                resync.cancel()

    async def _list(self) -> None:
        items: list[JSON] = []
        continue_token = ""
        while True:
            try:
                page = await self.client.list(
                    self.resource,
                    self.namespace,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    limit=self.page_size,
                    continue_token=continue_token,
                )
            except GoneError:
                if not continue_token:
                    raise
                # The continue token expired mid-way: start the list over from the beginning.
                items, continue_token = [], ""
                continue
            kind = self.resource.kind
            api_version = self.resource.api_version
            for item in page.get("items") or []:
                # List items omit apiVersion/kind; watch objects carry them. Make the cache uniform.
                if kind:
                    item.setdefault("apiVersion", api_version)
                    item.setdefault("kind", kind)
                items.append(self._transform(item) if self._transform else item)
            metadata = page.get("metadata") or {}
            continue_token = metadata.get("continue") or ""
            if not continue_token:
                self._replace(items, str(metadata.get("resourceVersion") or ""))
                return

    def _replace(self, items: list[JSON], resource_version: str) -> None:
        """Swap in a fresh list and emit the difference against the cache as add/update/delete."""
        seen = set()
        for obj in items:
            key = key_of(obj)
            seen.add(key)
            old = self.store.upsert(obj)
            if old is None:
                self._emit_add(obj)
            elif resource_version_of(old) != resource_version_of(obj):
                self._emit_update(old, obj)
        for key in set(self.store.keys()) - seen:
            old = self.store.remove(key)
            if old is not None:
                self._emit_delete(old)
        self._resource_version = resource_version
        self._synced.set()

    async def _watch(self) -> int:
        """Watch until the stream ends; returns how many events arrived."""
        timeout = random.randint(*self._watch_timeout)
        events = self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self._resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
        )
        received = 0
        try:
            async for event in events:
                received += 1
                self._apply(event)
        finally:
            await events.aclose()
        return received

    def _apply(self, event: JSON) -> None:
        kind = event.get("type")
        obj: JSON = event.get("object") or {}
        if kind == "ERROR":
            status = obj.get("code")
            if status == 410:
                raise _Relist()
            raise ApiError(
                int(status or 500), str(obj.get("reason") or ""), str(obj.get("message") or ""), obj
            )
        rv = resource_version_of(obj)
        if kind == "BOOKMARK":
            self._resource_version = rv or self._resource_version
            return
        if self._transform is not None:
            obj = self._transform(obj)
        if kind in ("ADDED", "MODIFIED"):
            old = self.store.upsert(obj)
            if old is None:
                self._emit_add(obj)
            else:
                self._emit_update(old, obj)
        elif kind == "DELETED":
            if self.store.remove(key_of(obj)) is not None:
                self._emit_delete(obj)
        else:
            raise ApiError(500, "UnknownWatchEvent", f"unexpected watch event type {kind!r}")
        if rv:
            self._resource_version = rv

    async def _resync_loop(self) -> None:
        assert self.resync_period is not None
        while True:
            await self._clock.sleep(self.resync_period)
            if self._synced.is_set():
                for key in list(self.store.keys()):
                    current = self.store.get_raw(key)
                    if current is not None:
                        self._emit_update(current, current)

    # -- fan-out -------------------------------------------------------------------------------------------
    def _emit_add(self, obj: dict[str, Any]) -> None:
        view = FrozenDict(obj)
        for handler in self._handlers:
            self._safely(handler.on_add, view)

    def _emit_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        old_view, new_view = FrozenDict(old), FrozenDict(new)
        for handler in self._handlers:
            self._safely(handler.on_update, old_view, new_view)

    def _emit_delete(self, obj: dict[str, Any]) -> None:
        view = FrozenDict(obj)
        for handler in self._handlers:
            self._safely(handler.on_delete, view)

    def _safely(self, callback: Any, *args: Obj) -> None:
        try:
            callback(*args)
        except Exception:
            self._log.exception("event handler failed")
