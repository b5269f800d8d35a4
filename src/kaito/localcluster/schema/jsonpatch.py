"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from kaito.localcluster.schema.errors import PatchError
from kaito.localcluster.schema.jsonvalue import json_equal


def json_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch; ``null`` deletes, objects merge, everything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError("a merge patch for an object must be a JSON object")
    merged = _merge(original, patch)
    assert isinstance(merged, dict)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def json_patch(original: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply RFC 6902 operations (add/remove/replace/move/copy/test); raise PatchError on failure.

    The operations apply atomically: ``original`` is never modified, and any failure rejects the whole patch.
    Where kube-apiserver's JSON patch library is laxer than the RFC, this follows the library (checked
    against ``kubectl patch --local --type json``): ``replace`` of a missing object key adds it, negative
    array indices count from the end, ``test`` of a missing value against ``null`` passes.
    """
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be an array of operations")
    doc: Any = copy.deepcopy(original)
    for index, op in enumerate(ops):
        if not isinstance(op, dict):
            raise PatchError(f"operation {index} is not an object")
        doc = _apply_op(doc, op)
    if not isinstance(doc, dict):
        raise PatchError("the patched document is not an object")
    return doc


def _pointer(text: Any, what: str = "path") -> list[str]:
    if not isinstance(text, str):
        raise PatchError(f'missing or invalid "{what}" in operation')
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"invalid JSON pointer {text!r}: must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _list_index(container: list[Any], token: str, *, for_add: bool) -> int:
    """An array index as kube-apiserver's JSON patch library reads it: "-" appends, negatives count back."""
    if for_add and token == "-":
        return len(container)
    try:
        index = int(token)
    except ValueError:
        raise PatchError(f"invalid array index {token!r}") from None
    size = len(container) + 1 if for_add else len(container)  # for add, -1 means "after the last"
    if index < 0:
        if index < -size:
            raise PatchError(f"array index {index} out of bounds")
        index += size
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise PatchError(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path component {token!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_list_index(node, token, for_add=False)]
        else:
            raise PatchError(f"path component {token!r} is not a container")
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"path {'/' + '/'.join(parts)!r} does not exist")
        return parent[token]
    if isinstance(parent, list):
        return parent[_list_index(parent, token, for_add=False)]
    raise PatchError(f"path {'/' + '/'.join(parts)!r} does not exist")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, token, for_add=True), value)
    else:
        raise PatchError(f"cannot add to a non-container at {token!r}")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"unable to remove nonexistent key {token!r}")
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_list_index(parent, token, for_add=False))
    raise PatchError(f"cannot remove from a non-container at {token!r}")


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    parts = _pointer(op.get("path"))
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f'operation "{kind}" needs a "value"')
    if kind == "add":
        return _add(doc, parts, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, parts)[0]
    if kind == "replace":
        if not parts:
            return copy.deepcopy(op["value"])
        parent = _parent(doc, parts)  # a missing object key is then added, as kube-apiserver does
        key: Any = parts[-1] if isinstance(parent, dict) else _list_index(parent, parts[-1], for_add=False)
        parent[key] = copy.deepcopy(op["value"])
        return doc
    if kind == "move":
        source = _pointer(op.get("from"), "from")
        if parts[: len(source)] == source and len(parts) > len(source):
            raise PatchError("cannot move a value into one of its own children")
        doc, value = _remove(doc, source)
        return _add(doc, parts, value)
    if kind == "copy":
        value = copy.deepcopy(_get(doc, _pointer(op.get("from"), "from")))
        return _add(doc, parts, value)
    if kind == "test":
        try:
            actual = _get(doc, parts)
        except PatchError:
            actual = None  # a missing value tests equal to null, as in kube-apiserver
        if not json_equal(actual, op["value"]):
            raise PatchError(f"test operation failed at {op['path']!r}")
        return doc
    raise PatchError(f"unknown patch operation {kind!r}")
