"""Helpers shared by the workload controllers: owner references, pods from templates, hashes, conditions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kaito.localcluster.builtins.client import PODS, KubeClient, Resource, is_status
from kaito.localcluster.builtins.informer import Informer, Obj, object_key

_SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def owner_reference(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Obj) -> list[str]:
    """Index function: the uid of the object's controlling owner."""
    for ref in obj.get("metadata", {}).get("ownerReferences", []) or []:
        if ref.get("controller"):
            return [str(ref.get("uid", ""))]
    return []


def enqueue_owner(kind: str, enqueue: Callable[[str], None]) -> Callable[[str, Obj], None]:
    """A handler that enqueues the controlling owner of the given kind (same namespace)."""

    def handler(event: str, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        for ref in meta.get("ownerReferences", []) or []:
            if ref.get("controller") and ref.get("kind") == kind:
                enqueue(f"{meta.get('namespace', '')}/{ref.get('name', '')}")

    return handler


def enqueue_self(enqueue: Callable[[str], None]) -> Callable[[str, Obj], None]:
    def handler(event: str, obj: Obj) -> None:
        enqueue(object_key(obj))

    return handler


def template_hash(template: dict[str, Any]) -> str:
    """A short stable hash of a pod template (FNV-1a over canonical JSON, in Kubernetes' safe alphabet)."""
    value = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True, separators=(",", ":")).encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    chars = []
    while value:
        value, digit = divmod(value, len(_SAFE_CHARS))
        chars.append(_SAFE_CHARS[digit])
    return "".join(chars) or _SAFE_CHARS[0]


def pod_from_template(
    template: dict[str, Any],
    owner: Obj,
    *,
    name: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    template = copy.deepcopy(template)
    source_meta = template.get("metadata", {}) or {}
    metadata: dict[str, Any] = {
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(source_meta.get("labels") or {}), **(extra_labels or {})},
        "annotations": dict(source_meta.get("annotations") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if source_meta.get("finalizers"):
        metadata["finalizers"] = list(source_meta["finalizers"])
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{owner['metadata']['name']}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec", {})}


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    update_time: bool = False,
) -> list[dict[str, Any]]:
    """Return `conditions` with `kind` set; lastTransitionTime moves only when the status changes."""
    now = now_stamp()
    result = []
    found = False
    for condition in conditions:
        if condition.get("type") != kind:
            result.append(condition)
            continue
        found = True
        changed = condition.get("status") != status
        same = not changed and condition.get("reason") == reason and condition.get("message") == message
        updated = dict(condition)
        updated |= {"status": status, "reason": reason, "message": message}
        if changed:
            updated["lastTransitionTime"] = now
        if update_time and not same:
            updated["lastUpdateTime"] = now
        result.append(updated)
    if not found:
        fresh = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }
        if update_time:
            fresh["lastUpdateTime"] = now
        result.append(fresh)
    return result


async def write_status(
    client: KubeClient, resource: Resource, informer: Informer, obj: Obj, status: Obj
) -> None:
    """Patch `.status` when it differs from what the object already reports."""
    current = obj.get("status") or {}
    if all(current.get(key) == value for key, value in status.items()):
        return
    meta = obj["metadata"]
    updated = await client.patch(resource, meta["namespace"], meta["name"], {"status": status}, sub="status")
    informer.observe(updated)


def is_pod_active(pod: Obj) -> bool:
    phase = pod.get("status", {}).get("phase", "Pending")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def is_pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for condition in pod.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            since = parse_stamp(condition.get("lastTransitionTime"))
            return since is not None and (now - since).total_seconds() >= min_ready_seconds
    return False


async def delete_pod(client: KubeClient, pods: Informer, pod: Obj) -> None:
    """Delete a controller's pod (guarded by its uid) and keep the pod cache in step: a pod still terminating
    stays visible, a gone one (404, or a 409 because its name now belongs to a new pod) is forgotten."""
    meta = pod["metadata"]
    try:
        result = await client.delete(PODS, meta["namespace"], meta["name"], uid=meta.get("uid"))
    except Exception as error:
        if not is_status(error, 404, 409):
            raise
        result = {}
    if result.get("kind") == "Pod" and result["metadata"].get("deletionTimestamp"):
        pods.observe(result)
    else:
        pods.forget(pod)
