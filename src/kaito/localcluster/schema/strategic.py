"""Strategic merge patch for built-in kinds, compatible with what kubectl sends.

Directives: ``$patch: replace|delete|merge`` (on maps and as list elements), ``$setElementOrder/<list>``,
``$retainKeys``, ``$deleteFromPrimitiveList/<list>``; ``null`` deletes a field. Follows apimachinery's
algorithm step by step (including how merged lists are ordered); ``kubectl patch --local`` is the reference
in the tests. Unlike apimachinery, directive keys never leak into stored objects.
"""

from __future__ import annotations

import copy
from typing import Any

from kaito.localcluster.schema.errors import PatchError
from kaito.localcluster.schema.jsonvalue import json_equal
from kaito.localcluster.schema.strategic_meta import BUILTIN_KINDS, PatchField, meta_for
from kaito.localcluster.schema.strategic_order import (
    go_aliased_server_order,
    identity_of,
    normalize_element_order,
)

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_EMPTY = PatchField()


def strategic_merge_supported(kind: str) -> bool:
    """Whether kube-apiserver accepts a strategic merge patch for ``kind`` (built-ins yes, CRs no: 415)."""
    return kind in BUILTIN_KINDS


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in ``kind``; raise PatchError on a malformed patch."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(original), patch, meta_for(kind))
    if result is None:
        raise PatchError("a strategic merge patch cannot delete the whole object")
    return result


def _merge_map(original: dict[str, Any], patch: dict[str, Any], meta: PatchField) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        replaced = _strip({k: v for k, v in patch.items() if k != "$patch"}, meta)
        return replaced if isinstance(replaced, dict) else {}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}")
    original = _retain_keys(original, patch)
    handled = _merge_ordered_lists(original, patch, meta)
    for key, value in patch.items():
        if not key.startswith(_DELETE_PRIMITIVE):
            continue
        target = key[len(_DELETE_PRIMITIVE) :]
        if not isinstance(value, list):
            raise PatchError(f"{key} must be a list")
        if isinstance(original.get(target), list):
            original[target] = [item for item in original[target] if not _contains(value, item)]
    for key, value in patch.items():
        if key.startswith("$") or key in handled:
            continue
        field_meta = meta.fields.get(key, _EMPTY)
        if value is None:
            original.pop(key, None)
        elif key not in original:
            if not (isinstance(value, dict) and value.get("$patch") == "delete"):
                original[key] = _strip(value, field_meta)
        elif isinstance(value, dict) and isinstance(original[key], dict):
            merged = _merge_map(original[key], value, field_meta)
            if merged is None:
                original.pop(key)
            else:
                original[key] = merged
        elif isinstance(value, list) and isinstance(original[key], list):
            original[key] = _merge_list(original[key], value, field_meta)
        else:
            original[key] = _strip(value, field_meta)
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    retain = patch.get("$retainKeys")
    if retain is None:
        return original
    if not isinstance(retain, list):
        raise PatchError("$retainKeys must be a list of field names")
    for key in patch:
        if not key.startswith("$") and key not in retain:
            raise PatchError(f"field {key!r} of the patch is not present in the $retainKeys list {retain}")
    return {k: v for k, v in original.items() if k in retain}


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], meta: PatchField) -> set[str]:
    """Merge the lists that carry a ``$setElementOrder`` directive; return their names."""
    handled: set[str] = set()
    for directive, order in patch.items():
        if not directive.startswith(_ORDER):
            continue
        key = directive[len(_ORDER) :]
        if not isinstance(order, list):
            raise PatchError(f"{directive} must be a list")
        field_meta = meta.fields.get(key, _EMPTY)
        server = original.get(key)
        patched = patch.get(key)
        if isinstance(patched, list):
            _check_patch_follows_order(patched, order, field_meta.key)
        server_order = server if isinstance(server, list) else []
        if isinstance(server, list) and isinstance(patched, list):
            merged = _merge_list(server, patched, field_meta)
            if field_meta.merges_list and field_meta.key:
                server_order = go_aliased_server_order(server, patched, field_meta.key)
        elif isinstance(patched, list):
            merged = _strip(patched, field_meta)
        elif isinstance(server, list):
            merged = server
        else:
            continue
        if not server and not patched:
            raise PatchError(f"{directive}: no elements in any of the given slices")  # as apimachinery
        original[key] = normalize_element_order(merged, order, server_order, field_meta.key)
        handled.add(key)
    return handled


def _check_patch_follows_order(items: list[Any], order: list[Any], key: str) -> None:
    """Patch items (other than deletions) must appear in ``$setElementOrder`` in the same relative order."""
    if not items or not order:
        return
    kept = [item for item in items if not (isinstance(item, dict) and "$patch" in item)]
    position = 0
    for entry in order:
        if position < len(kept) and json_equal(identity_of(kept[position], key), identity_of(entry, key)):
            position += 1
    if position < len(kept):
        raise PatchError(f"the order in patch list {items} doesn't match $setElementOrder list {order}")


def _strip(value: Any, meta: PatchField) -> Any:
    """A patch value with every directive and null removed (what a new or replaced field becomes)."""
    if isinstance(value, dict):
        result = _merge_map({}, {k: v for k, v in value.items() if k != "$patch"}, meta)
        return result if result is not None else {}
    if isinstance(value, list):
        element = _element(meta)
        return [_strip(item, element) for item in value if not (isinstance(item, dict) and "$patch" in item)]
    return copy.deepcopy(value)


def _merge_list(original: list[Any], patch: list[Any], meta: PatchField) -> list[Any]:
    if not meta.merges_list:
        element = _element(meta)
        return [_strip(item, element) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    if not original and not patch:
        return original
    if not any(isinstance(item, dict) for item in (*original, *patch)):
        merged = _deduplicate_scalars([*original, *copy.deepcopy(patch)])
        return normalize_element_order(merged, patch, original, "")
    if not meta.key:
        raise PatchError("cannot merge lists of objects without a merge key")
    server, items, replace = _special_elements(original, patch, meta.key)
    if replace:
        return [_strip(item, _element(meta)) for item in items]
    merged = list(server)
    for item in items:
        if not isinstance(item, dict) or meta.key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {meta.key}")
        position = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict) and json_equal(old.get(meta.key), item[meta.key])
            ),
            None,
        )
        if position is None:
            merged.append(_strip(item, _element(meta)))
        else:
            result = _merge_map(merged[position], item, _element(meta))
            merged[position] = result if result is not None else {}
    return normalize_element_order(merged, items, server, meta.key)


def _special_elements(original: list[Any], patch: list[Any], key: str) -> tuple[list[Any], list[Any], bool]:
    """Apply ``$patch: delete`` elements and report ``$patch: replace``: (server, plain items, replace)."""
    server = list(original)
    plain: list[Any] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict) or "$patch" not in item:
            plain.append(item)
            continue
        directive = item["$patch"]
        if directive == "delete":
            if key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {key}")
            server = [
                old for old in server if not (isinstance(old, dict) and json_equal(old.get(key), item[key]))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown $patch directive {directive!r} in a list element")
    return server, plain, replace


def _element(meta: PatchField) -> PatchField:
    """The metadata of a list's elements (their fields; retainKeys carries over to each element)."""
    return PatchField(strategy="retainKeys" if meta.retains_keys else "", fields=meta.fields)


def _deduplicate_scalars(items: list[Any]) -> list[Any]:
    """apimachinery's in-place deduplication (a later duplicate is overwritten by the last element)."""
    data = list(items)
    length = len(data) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if json_equal(data[i], data[j]):
                data[j] = data[length]
                data = data[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return data


def _contains(items: list[Any], value: Any) -> bool:
    return any(json_equal(item, value) for item in items)
