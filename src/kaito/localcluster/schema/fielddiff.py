"""Which field paths an update set or changed and which it removed, walking only where old and new differ."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.schema.fieldset import (
    ITEM,
    METADATA_IGNORED,
    Path,
    collect,
    element_key,
    value_key,
)
from kaito.localcluster.schema.jsonvalue import json_equal
from kaito.localcluster.schema.strategic_meta import PatchField

_NO_META = PatchField()
_MISSING = object()


def diff_fields(old: dict[str, Any], new: dict[str, Any], meta: PatchField) -> tuple[list[Path], list[Path]]:
    """(paths set or changed by ``new``, paths present in ``old`` but gone from ``new``).

    Unchanged subtrees are skipped with Python's ``==``, which treats ``1``, ``1.0`` and ``true`` alike.
    """
    changed: list[Path] = []
    gone: list[Path] = []
    for key in _union(old, new):
        if key in ("apiVersion", "kind"):
            continue
        before, after = _get(old, key), _get(new, key)
        if key == "metadata":
            before = _trim(before)
            after = _trim(after)
            _diff(before, after, meta.fields.get(key, _NO_META), ("f:metadata",), changed, gone, top=True)
        else:
            _diff(before, after, meta.fields.get(key, _NO_META), ("f:" + key,), changed, gone)
    return changed, gone


def _union(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [*new, *(key for key in old if key not in new)]


def _get(obj: dict[str, Any], key: str) -> Any:
    value = obj.get(key, _MISSING)
    return _MISSING if value is None else value


def _trim(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    return {k: v for k, v in metadata.items() if k not in METADATA_IGNORED}


def _diff(
    before: Any,
    after: Any,
    meta: PatchField,
    path: Path,
    changed: list[Path],
    gone: list[Path],
    *,
    top: bool = False,
) -> None:
    if before is _MISSING and after is _MISSING:
        return
    if before is _MISSING:
        changed.extend(_paths(after, meta, path, top))
        return
    if after is _MISSING:
        gone.extend(_paths(before, meta, path, top))
        return
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict) and ((before and after) or top):
        for key in _union(before, after):
            child = (*path, "f:" + key)
            _diff(_get(before, key), _get(after, key), meta.fields.get(key, _NO_META), child, changed, gone)
        return
    if isinstance(before, list) and isinstance(after, list) and meta.merges_list:
        _diff_list(before, after, meta, path, changed, gone)
        return
    old_paths = _values(before, meta, path, top)
    new_paths = _values(after, meta, path, top)
    changed.extend(p for p, v in new_paths.items() if p not in old_paths or not _same(v, old_paths[p]))
    gone.extend(p for p in old_paths if p not in new_paths)


def _diff_list(
    before: list[Any], after: list[Any], meta: PatchField, path: Path, changed: list[Path], gone: list[Path]
) -> None:
    if not meta.key:
        old_items = {value_key(item) for item in before}
        new_items = {value_key(item) for item in after}
        changed.extend((*path, item) for item in new_items - old_items)
        gone.extend((*path, item) for item in old_items - new_items)
        return
    element_meta = PatchField(fields=meta.fields)
    old_by_key = _keyed(before, meta.key)
    new_by_key = _keyed(after, meta.key)
    for element, item in new_by_key.items():
        _diff(
            old_by_key.get(element, _MISSING), item, element_meta, (*path, element), changed, gone, top=True
        )
    for element, item in old_by_key.items():
        if element not in new_by_key:
            _diff(item, _MISSING, element_meta, (*path, element), changed, gone, top=True)


def _keyed(items: list[Any], key: str) -> dict[str, Any]:
    return {element_key(key, item[key]): item for item in items if isinstance(item, dict) and key in item}


def _paths(value: Any, meta: PatchField, path: Path, top: bool) -> list[Path]:
    return list(_values(value, meta, path, top))


def _values(value: Any, meta: PatchField, path: Path, top: bool) -> dict[Path, Any]:
    found: dict[Path, Any] = {}
    if top and path[-1].startswith("k:"):
        found[path] = ITEM  # a list-map item: owning it includes owning its existence
    collect(value, meta, path, found, top=top)
    return found


def _same(left: Any, right: Any) -> bool:
    if left is ITEM or right is ITEM:
        return left is right
    return json_equal(left, right)
