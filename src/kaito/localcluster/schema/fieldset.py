"""Field sets of server-side apply: which fields an object sets, in the ``fieldsV1`` format.

A field set is a Python set of paths; a path is a tuple of elements like ``("f:spec", "f:containers",
'k:{"name":"a"}', "f:image")``. An element path (ending in ``k:``/``v:``) means "owns the list item itself".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from kaito.localcluster.schema.jsonvalue import ABSENT
from kaito.localcluster.schema.strategic_meta import PatchField

Path = tuple[str, ...]
FieldSet = set[Path]

_NO_META = PatchField()
# Identity and bookkeeping fields that nobody "manages".
METADATA_IGNORED = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
     "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}
)  # fmt: skip


# Schema id -> (schema, its merge metadata); holding the schema keeps its id from being reused.
_SCHEMA_META: dict[int, tuple[dict[str, Any], PatchField]] = {}


def meta_from_schema(schema: dict[str, Any]) -> PatchField:
    """Merge metadata for a custom resource from its structural schema's ``x-kubernetes-list-*`` markers.

    Memoised per schema object: a stored CRD (and so its schema) is never modified in place."""
    cached = _SCHEMA_META.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found = _meta_from_schema(schema)
    if len(_SCHEMA_META) >= 256:
        _SCHEMA_META.clear()
    _SCHEMA_META[id(schema)] = (schema, found)
    return found


def _meta_from_schema(schema: dict[str, Any]) -> PatchField:
    fields = {name: _meta_from_schema(sub) for name, sub in (schema.get("properties") or {}).items()}
    if schema.get("type") == "array" or "items" in schema:
        items = schema.get("items") or {}
        element = _meta_from_schema(items)
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        if list_type == "map" and keys:
            return PatchField(strategy="merge", key=str(keys[0]), fields=element.fields)
        if list_type == "set":
            return PatchField(strategy="merge")
        return PatchField(fields=element.fields)
    return PatchField(fields=fields)


_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_SCALARS = (str, int, float, bool)


def element_key(key: str, value: Any) -> str:
    """The ``k:`` path element of a list-map item with merge key ``key``."""
    if type(value) in _SCALARS:
        return _scalar_element_key(key, value)
    return "k:" + _ENCODE({key: value})


def value_key(value: Any) -> str:
    """The ``v:`` path element of a set-list item."""
    if type(value) in _SCALARS:
        return _scalar_value_key(value)
    return "v:" + _ENCODE(value)


# Merge keys repeat (container names, ports, env names): their elements are encoded once. `typed` keeps
# 1, 1.0 and True apart.
@lru_cache(maxsize=4096, typed=True)
def _scalar_element_key(key: str, value: str | float | bool) -> str:
    return "k:" + _ENCODE({key: value})


@lru_cache(maxsize=4096, typed=True)
def _scalar_value_key(value: str | float | bool) -> str:
    return "v:" + _ENCODE(value)


class _Item:
    """The value recorded for a list item's own path (its existence, not a value)."""


ITEM = _Item()


def fields_of(obj: dict[str, Any], meta: PatchField) -> FieldSet:
    """Every field path ``obj`` sets (leaves, plus list items of list-maps and sets)."""
    return set(field_values(obj, meta))


def field_values(obj: dict[str, Any], meta: PatchField) -> dict[Path, Any]:
    """Every field path ``obj`` sets, with the value found there (ITEM for list items), in one pass."""
    found: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        if key == "metadata" and isinstance(value, dict):
            trimmed = {k: v for k, v in value.items() if k not in METADATA_IGNORED}
            collect(trimmed, meta.fields.get(key, _NO_META), ("f:metadata",), found, top=True)
        else:
            collect(value, meta.fields.get(key, _NO_META), ("f:" + key,), found)
    return found


def collect(value: Any, meta: PatchField, path: Path, found: dict[Path, Any], *, top: bool = False) -> None:
    """Record in ``found`` every field path (with its value) that ``value`` sets below ``path``."""
    if isinstance(value, dict) and (value or top):
        for key, item in value.items():
            if item is not None:
                collect(item, meta.fields.get(key, _NO_META), (*path, "f:" + key), found)
        return
    if isinstance(value, list) and meta.merges_list:
        element_meta = PatchField(fields=meta.fields)
        for item in value:
            if meta.key and isinstance(item, dict) and meta.key in item:
                element = (*path, element_key(meta.key, item[meta.key]))
                found[element] = ITEM
                collect(item, element_meta, element, found, top=True)
            elif not meta.key:
                found[(*path, value_key(item))] = ITEM
        return
    found[path] = value


def lookup(obj: Any, path: Path) -> Any:
    """The value at ``path`` in ``obj`` (ABSENT when missing)."""
    node = obj
    for element in path:
        if element.startswith("f:") and isinstance(node, dict):
            node = node.get(element[2:], ABSENT)
        elif element.startswith("k:") and isinstance(node, list):
            wanted = json.loads(element[2:])
            node = next((item for item in node if _has_keys(item, wanted)), ABSENT)
        elif element.startswith("v:") and isinstance(node, list):
            wanted_value = json.loads(element[2:])
            node = wanted_value if wanted_value in node else ABSENT
        else:
            return ABSENT
        if node is ABSENT:
            return ABSENT
    return node


def remove(obj: dict[str, Any], path: Path) -> None:
    """Delete the field or list item at ``path`` from ``obj`` (in place; missing paths are ignored)."""
    parent = lookup(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        wanted = json.loads(last[2:])
        parent[:] = [item for item in parent if not _has_keys(item, wanted)]
    elif last.startswith("v:") and isinstance(parent, list):
        value = json.loads(last[2:])
        parent[:] = [item for item in parent if item != value]


def _has_keys(item: Any, wanted: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Encode a field set as the ``fieldsV1`` trie ({"f:spec": {"f:replicas": {}}}, "." for owned items)."""
    trie: dict[str, Any] = {}
    ordered = sorted(paths)
    owned = set(ordered)
    for path in ordered:
        node = trie
        for depth, element in enumerate(path):
            node = node.setdefault(element, {})
            if depth < len(path) - 1 and path[: depth + 1] in owned:
                node.setdefault(".", {})
    return trie


def from_fields_v1(trie: dict[str, Any], prefix: Path = ()) -> FieldSet:
    """Decode a ``fieldsV1`` trie back into a field set."""
    found: FieldSet = set()
    for element, child in trie.items():
        if element == ".":
            continue
        path = (*prefix, element)
        if not child or "." in child:
            found.add(path)
        if isinstance(child, dict):
            found |= from_fields_v1(child, path)
    return found


def render(path: Path) -> str:
    """A path as kube-apiserver prints it in conflicts: ``.spec.containers[name="a"].image``."""
    parts: list[str] = []
    for element in path:
        if element.startswith("f:"):
            parts.append("." + element[2:])
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        else:
            parts.append(f"[={element[2:]}]")
    return "".join(parts)
