"""In-memory object storage: one global resourceVersion, bounded event history, watcher fan-out.

Stored objects are treated as immutable: every write stores a new dict, so readers may serialise what they
get without copying, and a list snapshot is just a list of references.
"""

from __future__ import annotations

import bisect
import copy
import json
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from kaito.localcluster.apiserver.watch import Watcher

StoreKey = tuple[str, str]  # (group, resource)
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped
Obj = dict[str, Any]

_SERVICES: StoreKey = ("", "services")


@dataclass(eq=False)
class WatchEvent:
    """A change that happened at ``rv``; ``prev`` is the object before it (None for ADDED)."""

    rv: int
    type: str
    store_key: StoreKey
    obj: Obj
    prev: Obj | None
    encoded: dict[tuple[str, str], bytes] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))


Listener = Callable[[WatchEvent], None]


# Recently stored objects (by identity; the entry holds the object, so its id cannot be reused) and their
# JSON once encoded: a write's response and its watch events share one encoding. Stored objects are never
# modified, so the bytes stay right.
_ENCODED: dict[int, tuple[Obj, bytes | None]] = {}
_ENCODED_LIMIT = 1024


def _remember_stored(obj: Obj) -> None:
    if len(_ENCODED) >= _ENCODED_LIMIT:
        del _ENCODED[next(iter(_ENCODED))]
    _ENCODED[id(obj)] = (obj, None)


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON of ``obj``, encoded once for a recently stored object."""
    entry = _ENCODED.get(id(obj))
    if entry is None or entry[0] is not obj:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    encoded = entry[1]
    if encoded is None:
        encoded = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        _ENCODED[id(obj)] = (obj, encoded)
    return encoded


def _cluster_ip(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("clusterIP") or "")


def obj_key(obj: Obj) -> ObjKey:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


class Storage:
    """Objects by (group, resource) and (namespace, name), plus the history watchers resume from."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.history_size = history_size
        self.rv = 0
        self._objects: dict[StoreKey, dict[ObjKey, Obj]] = {}
        self._history: list[WatchEvent] = []
        self.compacted_rv = 0  # events with rv <= this are gone from history
        self._watchers: dict[StoreKey, set[Watcher]] = {}
        self._uids: dict[str, tuple[StoreKey, ObjKey]] = {}
        self._dependents: dict[str, set[tuple[StoreKey, ObjKey]]] = {}
        # spec.clusterIP of every stored Service ("None" included), so allocating one does not scan them all.
        self._cluster_ips: Counter[str] = Counter()
        self.listeners: list[Listener] = []
        self._snapshots: dict[str, tuple[float, list[Obj]]] = {}

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, key: StoreKey, namespace: str, name: str) -> Obj | None:
        bucket = self._objects.get(key)
        return bucket.get((namespace, name)) if bucket else None

    def items(self, key: StoreKey, namespace: str | None = None) -> list[Obj]:
        """Objects of one resource sorted by (namespace, name), optionally in one namespace."""
        bucket = self._objects.get(key)
        if not bucket:
            return []
        if namespace is None:
            return [bucket[k] for k in sorted(bucket)]
        return [bucket[k] for k in sorted(k for k in bucket if k[0] == namespace)]

    def count(self, key: StoreKey) -> int:
        return len(self._objects.get(key, ()))

    def cluster_ips(self) -> Collection[str]:
        """Every spec.clusterIP held by a stored Service (a live view)."""
        return self._cluster_ips.keys()

    def store_keys(self) -> list[StoreKey]:
        return [k for k, bucket in self._objects.items() if bucket]

    def by_uid(self, uid: str) -> Obj | None:
        where = self._uids.get(uid)
        if where is None:
            return None
        return self.get(where[0], *where[1])

    def location_of_uid(self, uid: str) -> tuple[StoreKey, ObjKey] | None:
        return self._uids.get(uid)

    def dependents_of(self, uid: str) -> list[tuple[StoreKey, ObjKey]]:
        return list(self._dependents.get(uid, ()))

    def copy_of(self, key: StoreKey, namespace: str, name: str) -> Obj | None:
        """A deep copy, for in-process inspection from tests."""
        obj = self.get(key, namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    # ---- writes ------------------------------------------------------------------------------------------
    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: StoreKey, obj: Obj, event_type: str) -> WatchEvent:
        """Store ``obj`` (ADDED or MODIFIED); its metadata.resourceVersion is set to a fresh value."""
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        bucket = self._objects.setdefault(key, {})
        okey = obj_key(obj)
        prev = bucket.get(okey)
        bucket[okey] = obj
        if prev is not None:
            self._unindex(key, okey, prev)
        self._index(key, okey, obj)
        _remember_stored(obj)
        return self._emit(WatchEvent(rv, event_type, key, obj, prev))

    def remove(self, key: StoreKey, namespace: str, name: str, last: Obj | None = None) -> WatchEvent | None:
        """Remove an object; ``last`` is the state the DELETED event carries (default: as stored)."""
        bucket = self._objects.get(key)
        if not bucket or (namespace, name) not in bucket:
            return None
        prev = bucket.pop((namespace, name))
        self._unindex(key, (namespace, name), prev)
        rv = self.next_rv()
        final = dict(last if last is not None else prev)
        final["metadata"] = dict(final["metadata"], resourceVersion=str(rv))
        return self._emit(WatchEvent(rv, "DELETED", key, final, prev))

    def _index(self, key: StoreKey, okey: ObjKey, obj: Obj) -> None:
        meta = obj["metadata"]
        self._uids[meta["uid"]] = (key, okey)
        for ref in meta.get("ownerReferences") or ():
            self._dependents.setdefault(ref["uid"], set()).add((key, okey))
        if key == _SERVICES and (ip := _cluster_ip(obj)):
            self._cluster_ips[ip] += 1

    def _unindex(self, key: StoreKey, okey: ObjKey, obj: Obj) -> None:
        meta = obj["metadata"]
        self._uids.pop(meta["uid"], None)
        for ref in meta.get("ownerReferences") or ():
            deps = self._dependents.get(ref["uid"])
            if deps is not None:
                deps.discard((key, okey))
                if not deps:
                    del self._dependents[ref["uid"]]
        if key == _SERVICES and (ip := _cluster_ip(obj)):
            self._cluster_ips[ip] -= 1
            if self._cluster_ips[ip] <= 0:
                del self._cluster_ips[ip]

    def _emit(self, event: WatchEvent) -> WatchEvent:
        self._history.append(event)
        if len(self._history) > 2 * self.history_size:
            self._compact()
        for watcher in list(self._watchers.get(event.store_key, ())):
            watcher.offer(event)
        for listener in self.listeners:
            listener(event)
        return event

    def _compact(self) -> None:
        drop = len(self._history) - self.history_size
        self.compacted_rv = self._history[drop - 1].rv
        del self._history[:drop]

    def expire_history(self) -> None:
        """Forget all history: every resume from an older resourceVersion now gets 410 Gone."""
        self.compacted_rv = self.rv
        self._history.clear()

    # ---- watch -------------------------------------------------------------------------------------------
    def oldest_resumable_rv(self) -> int:
        if self._history and len(self._history) > self.history_size:
            return self._history[len(self._history) - self.history_size - 1].rv
        return self.compacted_rv

    def events_since(self, key: StoreKey, since: int) -> list[WatchEvent] | None:
        """Events of one resource after ``since``; None when that version is already compacted away."""
        if since < self.oldest_resumable_rv():
            return None
        start = bisect.bisect_right(self._history, since, key=lambda e: e.rv)
        return [e for e in self._history[start:] if e.store_key == key]

    def add_watcher(self, watcher: Watcher) -> None:
        self._watchers.setdefault(watcher.store_key, set()).add(watcher)

    def remove_watcher(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.store_key)
        if watchers is not None:
            watchers.discard(watcher)

    def all_watchers(self) -> list[Watcher]:
        return [w for ws in self._watchers.values() for w in ws]

    # ---- list snapshots for limit/continue ---------------------------------------------------------------
    def save_snapshot(self, token: str, items: list[Obj], ttl: float = 300.0) -> None:
        now = time.monotonic()
        for old in [t for t, (at, _) in self._snapshots.items() if now - at > ttl]:
            del self._snapshots[old]
        if len(self._snapshots) >= 256:
            del self._snapshots[next(iter(self._snapshots))]
        self._snapshots[token] = (now, items)

    def snapshot(self, token: str) -> list[Obj] | None:
        found = self._snapshots.get(token)
        return found[1] if found else None

    # ---- persistence -------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "resourceVersion": self.rv,
            "objects": [
                {"group": key[0], "resource": key[1], "items": list(bucket.values())}
                for key, bucket in self._objects.items()
                if bucket
            ],
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace the contents with a ``dump()``; history starts empty, so older versions get 410."""
        self._objects.clear()
        self._uids.clear()
        self._dependents.clear()
        self._cluster_ips.clear()
        self._history.clear()
        self.rv = int(data["resourceVersion"])
        self.compacted_rv = self.rv
        for entry in data["objects"]:
            key = (entry["group"], entry["resource"])
            bucket = self._objects.setdefault(key, {})
            for obj in entry["items"]:
                bucket[obj_key(obj)] = obj
                self._index(key, obj_key(obj), obj)

    def iter_all(self) -> Iterable[tuple[StoreKey, Obj]]:
        for key, bucket in list(self._objects.items()):
            for obj in list(bucket.values()):
                yield key, obj
