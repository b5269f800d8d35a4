"""Deletion rules (finalizers, GC propagation, namespace finalizers) and strict decoding of built-ins."""

from __future__ import annotations

import copy
from typing import Any

from kaito.localcluster.apiserver.builtin_schema import strict_decoding_problems
from kaito.localcluster.apiserver.errors import ApiError, bad_request
from kaito.localcluster.apiserver.meta import now_rfc3339
from kaito.localcluster.apiserver.pod_grace import PODS, mark_graceful, pod_grace_period
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.storage import Obj, Storage

NAMESPACES = ("", "namespaces")


def deletion_state(storage: Storage, rtype: ResourceType, old: Obj, options: dict[str, Any]) -> Obj:
    """The object after a DELETE request: unchanged (remove it now) or marked for deletion."""
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise bad_request(
            f'Unsupported value: {policy!r}: supported values: "Foreground", "Background", "Orphan"'
        )
    finalizers = list(old["metadata"].get("finalizers") or ())
    gc_finalizer = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
    if gc_finalizer and gc_finalizer not in finalizers and storage.dependents_of(old["metadata"]["uid"]):
        finalizers.append(gc_finalizer)
    is_namespace = rtype.store_key == NAMESPACES
    grace = pod_grace_period(storage, old, options) if rtype.store_key == PODS else 0
    pending = bool(old["metadata"].get("deletionGracePeriodSeconds"))
    # A forced pod delete is stamped (grace 0) so that its kubelet stops the containers at once.
    forced = rtype.store_key == PODS and options.get("gracePeriodSeconds") == 0
    if not (grace or finalizers or pending or forced) and not (is_namespace and blocks_removal(rtype, old)):
        return old
    new = copy.copy(old)
    meta = new["metadata"] = dict(old["metadata"])
    if finalizers:
        meta["finalizers"] = finalizers
    if grace:
        mark_graceful(meta, grace)
    elif not meta.get("deletionTimestamp"):
        meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
    else:
        meta["deletionGracePeriodSeconds"] = 0  # forced: finalizers alone hold it now
    if is_namespace:
        new["status"] = dict(old.get("status") or {}, phase="Terminating")
    return new


def strict_decode(rtype: ResourceType, obj: Obj, field_validation: str) -> None:
    """With fieldValidation=Strict (what kubectl sends), unknown fields and wrong types are a 400."""
    if field_validation != "Strict" or rtype.review:
        return
    problems = strict_decoding_problems(dict(obj, apiVersion=rtype.api_version, kind=rtype.kind))
    if problems:
        raise ApiError(
            400,
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: strict decoding '
            f"error: {', '.join(problems)}",
            "BadRequest",
        )


def blocks_removal(rtype: ResourceType, obj: Obj) -> bool:
    """Whether a deleted object must stay: finalizers remain (for namespaces also ``spec.finalizers``), or
    a pod's grace period is still running (its kubelet removes it with grace 0)."""
    meta = obj["metadata"]
    if meta.get("finalizers") or (meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds")):
        return True
    return rtype.store_key == NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))
