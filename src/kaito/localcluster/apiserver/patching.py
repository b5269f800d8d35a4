"""Turns a PATCH request body into the patched object using the algorithms in ``schema/``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from kaito.localcluster.apiserver.errors import ApiError, bad_request
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.schema import (
    ApplyConflict,
    PatchError,
    json_merge_patch,
    json_patch,
    server_side_apply,
    strategic_merge_patch,
)

if TYPE_CHECKING:
    from kaito.localcluster.apiserver.objects import WriteOptions

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY)


def _unsupported() -> ApiError:
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(t for t in PATCH_TYPES if t != STRATEGIC),
        "UnsupportedMediaType",
    )


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as err:
        raise bad_request(f"error decoding patch: {err}") from None


def apply_patch(
    rtype: ResourceType,
    current: dict[str, Any] | None,
    content_type: str,
    raw: bytes,
    opts: WriteOptions,
    name: str,
    namespace: str,
) -> dict[str, Any]:
    """The object after the patch (a new dict; ``current`` is not modified)."""
    media = content_type.split(";")[0].strip()
    original = json.loads(json.dumps(current)) if current is not None else None
    try:
        if media == MERGE:
            patch = _decode_json(raw)
            if not isinstance(patch, dict):
                raise bad_request("a merge patch must be a JSON object")
            return json_merge_patch(original or {}, patch)
        if media == JSON_PATCH:
            ops = _decode_json(raw)
            if not isinstance(ops, list):
                raise bad_request("the JSON patch must be a list of operations")
            return json_patch(original or {}, ops)
        if media == STRATEGIC:
            if rtype.is_custom:
                raise _unsupported()
            patch = _decode_json(raw)
            if not isinstance(patch, dict):
                raise bad_request("a strategic merge patch must be a JSON object")
            return strategic_merge_patch(original or {}, patch, rtype.kind)
        if media == APPLY:
            return _server_side_apply(rtype, original, raw, opts, name, namespace)
    except PatchError as err:
        raise ApiError(422, str(err), "Invalid") from None
    except ApplyConflict as err:
        raise ApiError(
            409,
            str(err),
            "Conflict",
            name=name,
            group=rtype.group,
            kind=rtype.resource,
            causes=[
                {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": p}
                for m, p in err.conflicts
            ],
        ) from None
    raise _unsupported()


def _server_side_apply(
    rtype: ResourceType,
    original: dict[str, Any] | None,
    raw: bytes,
    opts: WriteOptions,
    name: str,
    namespace: str,
) -> dict[str, Any]:
    if not opts.explicit_manager:
        raise bad_request(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
            "apply patch"
        )
    try:
        applied = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise bad_request(f"error decoding YAML: {err}") from None
    if not isinstance(applied, dict):
        raise bad_request("an apply patch must be an object")
    meta = applied.setdefault("metadata", {})
    if meta.get("name") and meta["name"] != name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if not applied.get("apiVersion") or not applied.get("kind"):
        raise bad_request("apiVersion and kind must be set in an apply patch")
    meta["name"] = name
    if rtype.namespaced:
        meta.setdefault("namespace", namespace)
    return server_side_apply(
        original, applied, opts.field_manager, opts.force, rtype.kind, schema=rtype.schema
    )
