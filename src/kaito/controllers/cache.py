"""The informer's store: objects by namespace/name plus secondary indexes, read through frozen views."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kaito.controllers.labels import selector_matches
from kaito.controllers.objects import FrozenDict, Obj, ObjectKey, key_of, labels_of, owner_references_of

IndexFunc = Callable[[Obj], Iterable[str]]
"""Maps an object to the index values it is filed under."""

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"
LABEL_INDEX = "label"


def index_by_namespace(obj: Obj) -> Iterable[str]:
    return (key_of(obj).namespace,)


def index_by_owner_uid(obj: Obj) -> Iterable[str]:
    return [str(ref["uid"]) for ref in owner_references_of(obj) if ref.get("uid")]


def index_by_label(obj: Obj) -> Iterable[str]:
    return [f"{k}={v}" for k, v in labels_of(obj).items()]


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {
    NAMESPACE_INDEX: index_by_namespace,
    OWNER_UID_INDEX: index_by_owner_uid,
    LABEL_INDEX: index_by_label,
}


class Store:
    """Objects keyed by :class:`ObjectKey`; every index maps value -> set of keys, kept in step on writes."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[ObjectKey, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._indices: dict[str, dict[str, set[ObjectKey]]] = {name: {} for name in self._indexers}

    # -- writes (the informer's) --------------------------------------------------------------------------
    def upsert(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``obj`` (the store takes ownership); returns the previous object under its key."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def remove(self, key: ObjectKey) -> dict[str, Any] | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index (built over existing objects at once); re-adding the same function is a no-op."""
        if name in self._indexers:
            if self._indexers[name] is not func:
                raise ValueError(f"index {name!r} already exists with another function")
            return
        self._indexers[name] = func
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, func, key, obj)

    def _index(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        for name, func in self._indexers.items():
            self._index_one(name, func, key, obj)

    def _index_one(self, name: str, func: IndexFunc, key: ObjectKey, obj: dict[str, Any]) -> None:
        index = self._indices[name]
        for value in func(obj):
            bucket = index.get(value)
            if bucket is None:
                index[value] = {key}
            else:
                bucket.add(key)

    def _unindex(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, key: ObjectKey) -> FrozenDict | None:
        obj = self._items.get(key)
        return None if obj is None else FrozenDict(obj)

    def get_raw(self, key: ObjectKey) -> dict[str, Any] | None:
        """The stored dict itself, for the runtime's own diffing; callers must not mutate it."""
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[ObjectKey]:
        return list(self._items)

    def objects(self, namespace: str | None = None) -> list[FrozenDict]:
        if namespace is None:
            return [FrozenDict(obj) for obj in self._items.values()]
        return self.by_index(NAMESPACE_INDEX, namespace)

    def by_index(self, index: str, value: str) -> list[FrozenDict]:
        if index not in self._indices:
            raise KeyError(f"no index named {index!r}")
        keys = self._indices[index].get(value, ())
        return [FrozenDict(self._items[key]) for key in sorted(keys)]

    def index_values(self, index: str) -> list[str]:
        return sorted(self._indices[index])

    def by_owner_uid(self, uid: str) -> list[FrozenDict]:
        return self.by_index(OWNER_UID_INDEX, uid)

    def select(self, selector: Mapping[str, Any] | None, namespace: str | None = None) -> list[FrozenDict]:
        """Objects whose labels match a metav1.LabelSelector; matchLabels narrow through the label index."""
        match_labels: Mapping[str, str] = (selector or {}).get("matchLabels") or {}
        candidates: set[ObjectKey] | None = None
        if LABEL_INDEX in self._indices:
            for k, v in match_labels.items():
                bucket = self._indices[LABEL_INDEX].get(f"{k}={v}", set())
                candidates = set(bucket) if candidates is None else candidates & bucket
                if not candidates:
                    return []
        keys = candidates if candidates is not None else set(self._items)
        result = []
        for key in sorted(keys):
            if namespace is not None and key.namespace != namespace:
                continue
            obj = self._items[key]
            if selector_matches(selector, labels_of(obj)):
                result.append(FrozenDict(obj))
        return result
