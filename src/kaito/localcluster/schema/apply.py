"""Server-side apply: merge an applied configuration into the live object and track managedFields.

Simplified against kube-apiserver: ownership is keyed by (manager, operation) and ignores apiVersion and
subresource; list-maps use one merge key (the strategic-merge key, or the first ``x-kubernetes-list-map-keys``
entry for custom resources); the caller strips ``status`` for kinds with a status subresource; list order is
the live order with new items appended.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kaito.localcluster.schema.errors import ApplyConflict
from kaito.localcluster.schema.fielddiff import diff_fields
from kaito.localcluster.schema.fieldset import (
    FieldSet,
    Path,
    fields_of,
    from_fields_v1,
    lookup,
    meta_from_schema,
    remove,
    render,
    to_fields_v1,
)
from kaito.localcluster.schema.fieldtrie import fields_trie, trie_owns, trie_update
from kaito.localcluster.schema.jsonvalue import ABSENT, json_equal
from kaito.localcluster.schema.strategic_meta import PatchField, meta_for

Owners = dict[tuple[str, str], FieldSet]


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    force: bool,
    kind: str,
    *,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the new object (with updated ``metadata.managedFields``) after ``manager`` applies ``applied``.

    ``live`` is None when the object does not exist yet. Raises ApplyConflict when fields owned by another
    manager would change value and ``force`` is False. ``schema`` (a CRD's structural schema) supplies the
    list types of custom resources; built-in kinds use their strategic-merge keys.
    """
    meta = meta_from_schema(schema) if schema is not None else meta_for(kind)
    applied = _without_nulls(applied)
    applied_fields = fields_of(applied, meta)
    api_version = str(applied.get("apiVersion", ""))
    if live is None:
        result = copy.deepcopy(applied)
        result.setdefault("metadata", {})
        _store_owners(result, {(manager, "Apply"): applied_fields}, {(manager, "Apply"): api_version})
        return result
    owners, versions = _load_owners(live)
    conflicts: list[tuple[str, str]] = []
    for (other, operation), owned in owners.items():
        if (other, operation) == (manager, "Apply"):
            continue
        clashing = {p for p in applied_fields & owned if _is_value_path(p) and _differs(live, applied, p)}
        if clashing and force:
            owned -= clashing
        conflicts += [(other, render(p)) for p in sorted(clashing)]
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    result = copy.deepcopy(live)
    previous = owners.get((manager, "Apply"), set())
    others: FieldSet = set().union(*(f for key, f in owners.items() if key != (manager, "Apply")))
    still_owned = others | applied_fields
    for path in sorted(previous - applied_fields, key=len):  # list items go before their fields
        if not any(o[: len(path)] == path for o in still_owned):
            remove(result, path)
            _drop_empty_parents(result, path, still_owned)
    _merge(result, applied, meta)
    owners[(manager, "Apply")] = applied_fields
    versions[(manager, "Apply")] = api_version
    _store_owners(result, owners, versions)
    return result


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    kind: str,
    *,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return ``new`` with managedFields giving ``manager`` (operation Update) every field it set or changed.

    Call on create/update/patch that is not an apply. Changed fields move to ``manager``; fields that
    disappeared leave every manager's set; entries of untouched managers are kept as they were. Costs what
    changed, not the object's size. The result shares nested values with ``new`` (only metadata is copied).
    """
    meta = meta_from_schema(schema) if schema is not None else meta_for(kind)
    entries: list[dict[str, Any]]
    if old is None:
        owned = fields_trie(new, meta)
        entries = [_entry(manager, str(new.get("apiVersion", "")), owned)] if owned else []
    else:
        changed, gone = diff_fields(old, new, meta)
        entries = list((old.get("metadata") or {}).get("managedFields") or [])
        if changed or gone:
            entries = _reassign(entries, changed, gone, manager, str(new.get("apiVersion", "")))
    result = dict(new)
    result["metadata"] = {**(new.get("metadata") or {}), "managedFields": entries}
    return result


def _reassign(
    entries: list[dict[str, Any]], changed: list[Path], gone: list[Path], manager: str, api_version: str
) -> list[dict[str, Any]]:
    touched = [*changed, *gone]
    result: list[dict[str, Any]] = []
    own: dict[str, Any] = {}
    position: int | None = None
    for entry in entries:
        trie = entry.get("fieldsV1") or {}
        if (entry.get("manager"), entry.get("operation")) == (manager, "Update"):
            own, position = trie, len(result)
            continue
        hits = [path for path in touched if trie_owns(trie, path)]
        if not hits:
            result.append(entry)
            continue
        kept = trie_update(trie, (), hits)
        if kept:
            result.append({**entry, "fieldsV1": kept})
    own = trie_update(own, changed, gone)
    if own:
        result.insert(len(result) if position is None else position, _entry(manager, api_version, own))
    return result


def _entry(manager: str, api_version: str, owned: dict[str, Any]) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": owned,
    }


_LAST_SECOND: list[Any] = [None, ""]  # the RFC 3339 text of the last second asked for


def now_rfc3339() -> str:
    """The current UTC time to the second, as metadata timestamps are written (formatted once a second)."""
    now = datetime.now(UTC)
    second = now.replace(microsecond=0)
    if second != _LAST_SECOND[0]:
        _LAST_SECOND[:] = [second, second.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return str(_LAST_SECOND[1])


def _drop_empty_parents(obj: dict[str, Any], path: Path, owned: FieldSet) -> None:
    """Remove maps/lists that a removal left empty, unless someone still owns them (as k8s does)."""
    for depth in range(len(path) - 1, 0, -1):
        parent = path[:depth]
        value = lookup(obj, parent)
        if value not in ({}, []) or any(o[:depth] == parent for o in owned):
            return
        remove(obj, parent)


def _is_value_path(path: Path) -> bool:
    """Leaves carry values that can conflict; list-item markers only say the item exists."""
    return path[-1].startswith("f:")


def _differs(live: Any, applied: Any, path: Path) -> bool:
    current = lookup(live, path)
    wanted = lookup(applied, path)
    return current is not ABSENT and not json_equal(current, wanted)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge(target: dict[str, Any], applied: dict[str, Any], meta: PatchField) -> None:
    for key, value in applied.items():
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "managedFields"}
        field_meta = meta.fields.get(key, PatchField())
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value, field_meta)
        elif isinstance(value, list) and isinstance(current, list) and field_meta.merges_list:
            target[key] = _merge_list(current, value, field_meta)
        else:
            target[key] = copy.deepcopy(value)


def _merge_list(current: list[Any], applied: list[Any], meta: PatchField) -> list[Any]:
    result = list(current)
    for item in applied:
        if meta.key and isinstance(item, dict):
            match = next(
                (
                    i
                    for i, old in enumerate(result)
                    if isinstance(old, dict) and json_equal(old.get(meta.key), item.get(meta.key))
                ),
                None,
            )
            if match is None:
                result.append(copy.deepcopy(item))
            else:
                _merge(result[match], item, PatchField(fields=meta.fields))
        elif not any(json_equal(item, existing) for existing in result):
            result.append(copy.deepcopy(item))
    return result


def _load_owners(obj: dict[str, Any]) -> tuple[Owners, dict[tuple[str, str], str]]:
    owners: Owners = {}
    versions: dict[tuple[str, str], str] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        key = (str(entry.get("manager", "")), str(entry.get("operation", "Update")))
        owners[key] = owners.get(key, set()) | from_fields_v1(entry.get("fieldsV1") or {})
        versions[key] = str(entry.get("apiVersion", ""))
    return owners, versions


def _store_owners(obj: dict[str, Any], owners: Owners, versions: dict[tuple[str, str], str]) -> None:
    """Write the owners as managedFields; an entry whose fields and version did not change keeps its time,
    so an apply that changes nothing leaves the object equal to the stored one (and is not written)."""
    now = now_rfc3339()
    previous = {
        (str(e.get("manager", "")), str(e.get("operation", "Update"))): e
        for e in (obj.get("metadata") or {}).get("managedFields") or []
    }
    entries = []
    for (manager, operation), fields in owners.items():
        if not fields:
            continue
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": versions.get((manager, operation), ""),
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(fields),
        }
        old = previous.get((manager, operation))
        if old is not None and {**old, "time": now} == entry:
            entry["time"] = old.get("time", now)
        entries.append(entry)
    obj["metadata"]["managedFields"] = entries
