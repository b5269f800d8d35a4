"""Owner references and finalizers on raw objects, with conflict-retrying writes for finalizers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.objects import Obj, key_of, meta, owner_references_of
from kaito.controllers.resource import Resource


def owner_reference(owner: Obj, *, controller: bool = True, block_owner_deletion: bool = True) -> JSON:
    """An ownerReference pointing at ``owner`` (which must carry apiVersion, kind, name and uid)."""
    m = meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def set_controller_reference(obj: JSON, owner: Obj) -> None:
    """Make ``owner`` the controller of ``obj`` ; refuses a second controller."""
    ref = owner_reference(owner)
    refs: list[JSON] = obj.setdefault("metadata", {}).setdefault("ownerReferences", [])
    for existing in refs:
        if existing.get("controller") and existing.get("uid") != ref["uid"]:
            raise ValueError(
                f"{key_of(obj)} is already controlled by {existing.get('kind')}/{existing.get('name')}"
            )
    refs[:] = [r for r in refs if r.get("uid") != ref["uid"]] + [ref]


def controller_of(obj: Obj) -> Mapping[str, Any] | None:
    for ref in owner_references_of(obj):
        if ref.get("controller"):
            return ref
    return None


def has_finalizer(obj: Obj, finalizer: str) -> bool:
    return finalizer in (meta(obj).get("finalizers") or ())


def is_being_deleted(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


async def add_finalizer(client: KubeClient, resource: Resource, obj: Obj, finalizer: str) -> JSON:
    """Add ``finalizer`` (no write when already present), retrying on conflicts."""

    def mutation(fresh: JSON) -> bool:
        finalizers: list[str] = fresh["metadata"].setdefault("finalizers", [])
        if finalizer in finalizers:
            return False
        finalizers.append(finalizer)
        return True

    key = key_of(obj)
    return await client.mutate(resource, key.namespace or None, key.name, mutation, current=obj)


async def remove_finalizer(client: KubeClient, resource: Resource, obj: Obj, finalizer: str) -> JSON:
    """Remove ``finalizer`` (no write when absent), retrying on conflicts."""

    def mutation(fresh: JSON) -> bool:
        finalizers: list[str] = fresh["metadata"].get("finalizers") or []
        if finalizer not in finalizers:
            return False
        fresh["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
        return True

    key = key_of(obj)
    return await client.mutate(resource, key.namespace or None, key.name, mutation, current=obj)
