"""Edits of a ``fieldsV1`` trie in place of decode/re-encode, so managedFields upkeep costs what changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kaito.localcluster.schema.fieldset import METADATA_IGNORED, Path, element_key, value_key
from kaito.localcluster.schema.strategic_meta import PatchField

Trie = dict[str, Any]
_NO_META = PatchField()


def fields_trie(obj: dict[str, Any], meta: PatchField) -> Trie:
    """The ``fieldsV1`` trie of every field ``obj`` sets: ``trie_update({}, field_values(obj, meta), ())``
    built in one walk, without the paths in between (what a create records for its manager)."""
    root: Trie = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        field_meta = meta.fields.get(key, _NO_META)
        if key == "metadata" and isinstance(value, dict):
            trimmed = {k: v for k, v in value.items() if k not in METADATA_IGNORED}
            node = _node(trimmed, field_meta, top=True)
        else:
            node = _node(value, field_meta)
        if node is not None:
            root["f:" + key] = node
    return root


def _node(value: Any, meta: PatchField, *, top: bool = False) -> Trie | None:
    """The trie below a field holding ``value``; None when it records nothing (as ``collect`` would not)."""
    if isinstance(value, dict):
        if not value and not top:
            return {}
        fields = meta.fields
        node: Trie = {}
        for key, item in value.items():
            if item is not None:
                child = _node(item, fields.get(key, _NO_META))
                if child is not None:
                    node["f:" + key] = child
        return node or None
    if isinstance(value, list) and meta.merges_list:
        items: Trie = {}
        merge_key = meta.key
        element_meta = PatchField(fields=meta.fields)
        for item in value:
            if merge_key and isinstance(item, dict) and merge_key in item:
                inner = _node(item, element_meta, top=True)
                owned = {".": {}, **inner} if inner else {}
                _union_into(items, element_key(merge_key, item[merge_key]), owned)
            elif not merge_key:
                _union_into(items, value_key(item), {})
        return items or None
    return {}


def _union_into(parent: Trie, element: str, node: Trie) -> None:
    """Add ``node`` at ``element`` (a repeated list item): both owned paths and both subtrees are kept."""
    existing = parent.get(element)
    parent[element] = node if existing is None else _union(existing, node)


def _union(a: Trie, b: Trie) -> Trie:
    owned = not a or "." in a or not b or "." in b
    merged: Trie = {}
    for key in (*a, *b):
        if key == "." or key in merged:
            continue
        merged[key] = _union(a[key], b[key]) if key in a and key in b else (a[key] if key in a else b[key])
    return {".": {}, **merged} if owned and merged else merged


def trie_owns(trie: Trie, path: Path) -> bool:
    """Whether ``trie`` owns ``path`` itself: its node is a leaf ({}) or carries the "." marker."""
    node: Any = trie
    for element in path:
        if not isinstance(node, dict) or element not in node:
            return False
        node = node[element]
    return isinstance(node, dict) and (not node or "." in node)


def trie_update(trie: Trie, add: Iterable[Path], drop: Iterable[Path]) -> Trie:
    """A new trie owning ``add`` and no longer ``drop``; ``trie`` itself is left untouched (copy on write)."""
    root = dict(trie)
    fresh = {id(root)}
    for path in drop:
        _remove(root, path, fresh)
    for path in add:
        _insert(root, path, fresh)
    return root


def _writable(parent: Trie, element: str, fresh: set[int]) -> Trie:
    child: Trie = parent[element]
    if id(child) not in fresh:
        child = dict(child)
        parent[element] = child
        fresh.add(id(child))
    return child


def _insert(root: Trie, path: Path, fresh: set[int]) -> None:
    node = root
    for depth, element in enumerate(path):
        existed = element in node
        if existed:
            child = _writable(node, element, fresh)
        else:
            child = node[element] = {}
            fresh.add(id(child))
        last = depth == len(path) - 1
        if not last and existed and not child:
            child["."] = {}  # an owned leaf gets children: keep owning the node itself
        node = child
    if any(key != "." for key in node):
        node["."] = {}


def _remove(root: Trie, path: Path, fresh: set[int]) -> None:
    chain: list[tuple[Trie, str]] = []
    node = root
    for element in path:
        if not isinstance(node.get(element), dict):
            return
        child = _writable(node, element, fresh)
        chain.append((node, element))
        node = child
    if any(key != "." for key in node):
        node.pop(".", None)
        return
    parent, element = chain[-1]
    del parent[element]
    for ancestor, key in reversed(chain[:-1]):
        left = ancestor[key]
        if not left:
            del ancestor[key]
        elif set(left) == {"."}:
            ancestor[key] = {}
            return
        else:
            return
