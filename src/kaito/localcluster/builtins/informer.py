"""List+watch cache of one resource with indexes and change handlers (a minimal client-go informer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from kaito.localcluster.builtins.client import KubeClient, Resource, is_status

log = structlog.get_logger(__name__)

Obj = dict[str, Any]
# (event type, current object or the last state of a deleted one)
Handler = Callable[[str, Obj], None]
IndexFunc = Callable[[Obj], list[str]]


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace") or ""
    return f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))


def _version(obj: Obj) -> int | None:
    text = obj.get("metadata", {}).get("resourceVersion", "")
    return int(text) if isinstance(text, str) and text.isdigit() else None


class Informer:
    """Keeps `objects` current for one resource; controllers write through it so their next read is fresh."""

    def __init__(self, client: KubeClient, resource: Resource) -> None:
        self.client = client
        self.resource = resource
        self.objects: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._tombstones: dict[str, float] = {}  # uid -> time we deleted it ourselves

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def add_index(self, name: str, func: IndexFunc) -> None:
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self.objects.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def by_index(self, name: str, value: str) -> list[Obj]:
        keys = self._indexes[name].get(value, set())
        return [self.objects[key] for key in sorted(keys) if key in self.objects]

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    # -- write-through from our own API calls -------------------------------------------------------------

    def observe(self, obj: Obj) -> None:
        """Record an object an API call just returned (create/update/patch)."""
        if obj.get("kind") == "Status" or "metadata" not in obj:
            return
        self._apply("MODIFIED" if object_key(obj) in self.objects else "ADDED", obj)

    def forget(self, obj: Obj) -> None:
        """Record that we deleted `obj`: stale watch events for it are ignored until its DELETED arrives."""
        uid = obj.get("metadata", {}).get("uid", "")
        if uid:
            self._tombstones[uid] = time.monotonic()
        self._apply("DELETED", obj)

    # -- the loop -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                version = await self._relist()
                while True:
                    version = await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_status(error, 410):
                    log.warning("informer.error", resource=self.resource.plural, error=repr(error))
                    await asyncio.sleep(0.5)

    async def _relist(self) -> str:
        listing = await self.client.list(self.resource)
        fresh = {object_key(item): item for item in listing.get("items", [])}
        for key, old in list(self.objects.items()):
            if key not in fresh:
                self._apply("DELETED", old)
        for item in fresh.values():
            self._apply("MODIFIED" if object_key(item) in self.objects else "ADDED", item, force=True)
        self.synced.set()
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> str:
        async for kind, obj in self.client.watch(self.resource, version):
            new_version = obj.get("metadata", {}).get("resourceVersion")
            if new_version:
                version = new_version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(kind, obj)
        return version

    def _apply(self, kind: str, obj: Obj, force: bool = False) -> None:
        key = object_key(obj)
        uid = obj.get("metadata", {}).get("uid", "")
        if kind == "DELETED":
            self._tombstones.pop(uid, None)
            old = self.objects.pop(key, None)
            if old is None:
                return
            self._unindex(key, old)
        else:
            if uid in self._tombstones:
                if time.monotonic() - self._tombstones[uid] < 60 and not force:
                    return
                del self._tombstones[uid]
            current = self.objects.get(key)
            if current is not None and not force:
                have, new = _version(current), _version(obj)
                same_object = current.get("metadata", {}).get("uid") == uid
                if same_object and have is not None and new is not None and new < have:
                    return
            if current is not None:
                self._unindex(key, current)
            self.objects[key] = obj
            for name, func in self._index_funcs.items():
                for value in func(obj):
                    self._indexes[name].setdefault(value, set()).add(key)
        for handler in self._handlers:
            try:
                handler(kind, obj)
            except Exception:
                log.exception("informer.handler_failed", resource=self.resource.plural)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                bucket = self._indexes[name].get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del self._indexes[name][value]
