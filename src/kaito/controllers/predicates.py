"""Predicates: which cache changes are worth a reconcile (generation, labels, annotations, status-only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kaito.controllers.objects import Obj, meta, raw

UpdateFilter = Callable[[Obj, Obj], bool]


@dataclass(frozen=True)
class Predicate:
    """Filters per event kind; each returns True to let the event through (all do by default)."""

    create: Callable[[Obj], bool] = lambda obj: True
    update: UpdateFilter = lambda old, new: True
    delete: Callable[[Obj], bool] = lambda obj: True


def on_update(update: UpdateFilter) -> Predicate:
    """A predicate that filters updates only (creates and deletes always pass)."""
    return Predicate(update=update)


def _meta_field(obj: Obj, field: str) -> Any:
    return meta(obj).get(field)


def generation_changed() -> Predicate:
    """Pass updates that change metadata.generation (spec changes on most resources and CRDs)."""
    return on_update(lambda old, new: _meta_field(old, "generation") != _meta_field(new, "generation"))


def labels_changed() -> Predicate:
    return on_update(
        lambda old, new: (_meta_field(old, "labels") or {}) != (_meta_field(new, "labels") or {})
    )


def annotations_changed() -> Predicate:
    return on_update(
        lambda old, new: (_meta_field(old, "annotations") or {}) != (_meta_field(new, "annotations") or {})
    )


def resource_version_changed() -> Predicate:
    """Drop resync updates (same object delivered again)."""
    return on_update(
        lambda old, new: _meta_field(old, "resourceVersion") != _meta_field(new, "resourceVersion")
    )


_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


def _without_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in obj.items() if k != "status"}
    if "metadata" in stripped:
        stripped["metadata"] = {k: v for k, v in stripped["metadata"].items() if k not in _VOLATILE_METADATA}
    return stripped


def ignore_status_only() -> Predicate:
    """Drop updates that changed nothing but ``status`` (and the bookkeeping metadata that comes with it).

    Spec, labels, annotations, finalizers, owner references and deletionTimestamp changes all pass; a
    generation bump passes even when nothing else differs.
    """

    def update(old: Obj, new: Obj) -> bool:
        if _meta_field(old, "generation") != _meta_field(new, "generation"):
            return True
        return _without_status(raw(old)) != _without_status(raw(new))

    return on_update(update)


def any_of(*predicates: Predicate) -> Predicate:
    return Predicate(
        create=lambda obj: any(p.create(obj) for p in predicates),
        update=lambda old, new: any(p.update(old, new) for p in predicates),
        delete=lambda obj: any(p.delete(obj) for p in predicates),
    )


def all_of(*predicates: Predicate) -> Predicate:
    return Predicate(
        create=lambda obj: all(p.create(obj) for p in predicates),
        update=lambda old, new: all(p.update(old, new) for p in predicates),
        delete=lambda obj: all(p.delete(obj) for p in predicates),
    )
