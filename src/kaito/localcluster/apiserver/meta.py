"""ObjectMeta rules shared by every kind: names, generateName, uid, timestamps, generation, immutability."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from kaito.localcluster.apiserver.errors import ApiError, bad_request, field_cause, invalid
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.schema.apply import now_rfc3339 as timestamp_now

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Kinds whose names must be DNS-1035/1123 labels rather than subdomains.
_LABEL_NAMED = {("", "namespaces"), ("", "services")}
_NOT_SPEC = frozenset({"metadata", "status", "apiVersion", "kind"})


def now_rfc3339() -> str:
    return timestamp_now()


def validate_name(rtype: ResourceType, name: str) -> list[dict[str, str]]:
    """Causes for an invalid metadata.name (empty list when valid)."""
    if (rtype.group, rtype.resource) in _LABEL_NAMED:
        if len(name) > 63 or not _DNS_LABEL.match(name):
            detail = (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                "must "
                "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
            return [field_cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {detail}')]
        return []
    if rtype.group == "" and rtype.resource == "events":
        return []
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        detail = (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            "validation "
            "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
        return [field_cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {detail}')]
    return []


def prepare_create_meta(rtype: ResourceType, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    """Fill server-owned metadata on a new object; raise 400/422 on bad names or a namespace mismatch."""
    if not isinstance(obj, dict):
        raise bad_request("the body of the request was not a JSON object")
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if rtype.namespaced:
        body_ns = meta.get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace or body_ns or "default"
    else:
        meta.pop("namespace", None)
    if not meta.get("name"):
        prefix = meta.get("generateName")
        if not prefix:
            raise invalid(
                rtype.kind,
                rtype.group,
                "",
                [
                    field_cause(
                        "FieldValueRequired",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    )
                ],
            )
        meta["name"] = prefix[:58] + "".join(random.choices(_GENERATE_ALPHABET, k=5))
    causes = validate_name(rtype, meta["name"])
    if causes:
        raise invalid(rtype.kind, rtype.group, meta["name"], causes)
    for forbidden in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(forbidden, None)
    if meta.get("resourceVersion"):
        raise bad_request("resourceVersion should not be set on objects to be created")
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    if tracks_generation(rtype):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    validate_labels_annotations(rtype, meta)
    return obj


def validate_labels_annotations(rtype: ResourceType, meta: dict[str, Any]) -> None:
    causes: list[dict[str, str]] = []
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            causes.append(
                field_cause(
                    "FieldValueTypeInvalid", f"metadata.{field}", "Invalid value: must be a map of strings"
                )
            )
    if causes:
        raise invalid(rtype.kind, rtype.group, meta.get("name", ""), causes)


_GENERATION_GROUPS = frozenset(
    {"apps", "batch", "policy", "apiextensions.k8s.io", "admissionregistration.k8s.io"}
)


def tracks_generation(rtype: ResourceType) -> bool:
    """Kinds whose strategy maintains metadata.generation (custom resources, workloads, pods)."""
    return (
        rtype.is_custom or rtype.group in _GENERATION_GROUPS or (rtype.group, rtype.resource) == ("", "pods")
    )


def spec_changed(old: dict[str, Any], new: dict[str, Any], status_subresource: bool) -> bool:
    """Whether generation must be bumped: anything but metadata (and status, with a status subresource)."""
    ignore = _NOT_SPEC if status_subresource else _NOT_SPEC - {"status"}
    keys = (set(old) | set(new)) - ignore
    return any(old.get(k) != new.get(k) for k in keys)


def carry_immutable_meta(
    rtype: ResourceType, old: dict[str, Any], new: dict[str, Any], url_name: str
) -> None:
    """Keep server-owned metadata on an update; reject renames and new finalizers during deletion."""
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        meta = new["metadata"] = {}
    old_meta = old["metadata"]
    if meta.get("name") and meta["name"] != url_name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({url_name})"
        )
    if rtype.namespaced and meta.get("namespace") and meta["namespace"] != old_meta.get("namespace"):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["name"] = old_meta["name"]
    if rtype.namespaced:
        meta["namespace"] = old_meta["namespace"]
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    meta.pop("selfLink", None)
    if old_meta.get("generateName") and not meta.get("generateName"):
        meta["generateName"] = old_meta["generateName"]
    if old_meta.get("deletionTimestamp"):
        added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
        if added:
            raise invalid(
                rtype.kind,
                rtype.group,
                url_name,
                [
                    field_cause(
                        "FieldValueForbidden",
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted, "
                        "found new "
                        f"finalizers {sorted(added)!r}".replace("'", '"'),
                    )
                ],
            )
    validate_labels_annotations(rtype, meta)


def check_precondition_rv(rtype: ResourceType, old: dict[str, Any], new: dict[str, Any], name: str) -> None:
    from kaito.localcluster.apiserver.errors import conflict

    wanted = (new.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != old["metadata"]["resourceVersion"]:
        raise conflict(rtype.resource, rtype.group, name)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request was not a JSON object", "BadRequest")
    return body
