"""Edits of a ``fieldsV1`` trie in place of decode/re-encode, so managedFields upkeep costs what changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kaito.localcluster.schema.fieldset import Path

Trie = dict[str, Any]


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
