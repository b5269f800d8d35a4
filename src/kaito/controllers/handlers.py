"""Event handlers turning cache changes into workqueue keys: enqueue self, the controlling owner, a map."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from kaito.controllers.objects import Obj, ObjectKey, key_of, owner_references_of
from kaito.controllers.predicates import Predicate

Mapper = Callable[[Obj], Iterable[ObjectKey]]
"""Maps a changed object to the keys of the objects that must be reconciled because of it."""


class Enqueuer(Protocol):
    def add(self, key: ObjectKey) -> None: ...


def enqueue_self(obj: Obj) -> Iterable[ObjectKey]:
    return (key_of(obj),)


def enqueue_owner(kind: str, group: str, *, controller_only: bool = True) -> Mapper:
    """Map an object to its owner of ``kind`` in API ``group`` (any version), in the object's namespace."""

    def mapper(obj: Obj) -> Iterable[ObjectKey]:
        namespace = key_of(obj).namespace
        keys = []
        for ref in owner_references_of(obj):
            if ref.get("kind") != kind or (controller_only and not ref.get("controller")):
                continue
            api_version = str(ref.get("apiVersion") or "")
            ref_group = api_version.rpartition("/")[0]
            if ref_group == group:
                keys.append(ObjectKey(namespace, str(ref["name"])))
        return keys

    return mapper


def enqueue_by_labels(name_label: str, namespace_label: str | None = None) -> Mapper:
    """Map an object to the key named by its labels (e.g. ``kaito.sh/workspace`` + ``...namespace``)."""

    def mapper(obj: Obj) -> Iterable[ObjectKey]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name = labels.get(name_label)
        if not name:
            return ()
        namespace = labels.get(namespace_label, "") if namespace_label else key_of(obj).namespace
        return (ObjectKey(namespace, name),)

    return mapper


class EnqueueHandler:
    """An informer :class:`EventHandler` that filters with predicates and enqueues what a mapper returns.

    On updates both the old and the new object are mapped, so a change of owner or label reconciles both
    the object that lost it and the one that gained it.
    """

    def __init__(self, queue: Enqueuer, mapper: Mapper = enqueue_self, predicates: Sequence[Predicate] = ()):
        self._queue = queue
        self._mapper = mapper
        self._predicates = tuple(predicates)

    def on_add(self, obj: Obj) -> None:
        if all(p.create(obj) for p in self._predicates):
            for key in self._mapper(obj):
                self._queue.add(key)

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self._predicates):
            keys = set(self._mapper(new))
            if self._mapper is not enqueue_self:
                keys.update(self._mapper(old))
            for key in keys:
                self._queue.add(key)

    def on_delete(self, obj: Obj) -> None:
        if all(p.delete(obj) for p in self._predicates):
            for key in self._mapper(obj):
                self._queue.add(key)
