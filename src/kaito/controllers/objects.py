"""Read-only views over cached Kubernetes objects, object keys, and small accessors for raw JSON objects.

The cache keeps the dicts parsed from the API server and hands out :class:`FrozenDict` views: wrapping is
lazy (one small object per accessed level), so readers pay nothing for fields they do not touch and can
never corrupt the cache. ``thaw`` makes a mutable deep copy when a reader wants to edit and write back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, overload


class ObjectKey(NamedTuple):
    """Namespace and name of an object; namespace is "" for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _freeze(value: Any) -> Any:
    if type(value) is dict:
        return FrozenDict(value)
    if type(value) is list:
        return FrozenList(value)
    return value


def thaw(value: Any) -> Any:
    """A mutable deep copy of a JSON-shaped value (views, dicts and lists of scalars)."""
    if isinstance(value, FrozenDict | FrozenList):
        value = value._data
    if type(value) is dict:
        return {k: thaw(v) for k, v in value.items()}
    if type(value) is list:
        return [thaw(v) for v in value]
    return value


class FrozenDict(Mapping[str, Any]):
    """An immutable, lazily wrapping view of a JSON object."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _freeze(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def thaw(self) -> dict[str, Any]:
        result: dict[str, Any] = thaw(self._data)
        return result


class FrozenList(Sequence[Any]):
    """An immutable, lazily wrapping view of a JSON array."""

    __slots__ = ("_data",)

    def __init__(self, data: list[Any]) -> None:
        self._data = data

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> FrozenList: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return FrozenList(self._data[index])
        return _freeze(self._data[index])

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        return (_freeze(v) for v in self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenList):
            return self._data == other._data
        if isinstance(other, list):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenList({self._data!r})"

    def thaw(self) -> list[Any]:
        result: list[Any] = thaw(self._data)
        return result


Obj = Mapping[str, Any]
"""What handlers and readers receive: a read-only mapping (a :class:`FrozenDict` from the cache)."""


def raw(obj: Obj) -> Mapping[str, Any]:
    """The underlying data of a view without copying (read-only by convention; for hot-path comparisons)."""
    return obj._data if isinstance(obj, FrozenDict) else obj


def meta(obj: Obj) -> Mapping[str, Any]:
    metadata: Mapping[str, Any] = raw(obj).get("metadata") or {}
    return metadata


def key_of(obj: Obj) -> ObjectKey:
    m = meta(obj)
    return ObjectKey(m.get("namespace") or "", m["name"])


def labels_of(obj: Obj) -> Mapping[str, str]:
    labels: Mapping[str, str] = meta(obj).get("labels") or {}
    return labels


def annotations_of(obj: Obj) -> Mapping[str, str]:
    annotations: Mapping[str, str] = meta(obj).get("annotations") or {}
    return annotations


def resource_version_of(obj: Obj) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def owner_references_of(obj: Obj) -> Sequence[Mapping[str, Any]]:
    refs: Sequence[Mapping[str, Any]] = meta(obj).get("ownerReferences") or []
    return refs
