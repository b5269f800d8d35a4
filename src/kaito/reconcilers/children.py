"""Create-or-update of a Workspace's namespaced children, one write only when what we want changed.

Each child carries a hash of the document the reconciler last wrote (`kaito.sh/spec-hash`); an equal hash
means no write, whatever defaults the API server filled in. Every child gets a controller ownerReference
to the Workspace, so namespaced children are garbage-collected with it.
"""

from __future__ import annotations

from typing import Any, Final

from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.echoes import OwnWrites
from kaito.controllers.errors import NotFoundError, is_already_exists
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey, annotations_of, thaw
from kaito.controllers.ownership import set_controller_reference
from kaito.controllers.resource import SERVICES, Resource
from kaito.reconcilers.names import ANNOTATION_SPEC_HASH, stable_hash

_TOP_LEVEL_METADATA: Final = ("apiVersion", "kind", "metadata", "status")
# Fields the API server allocates on a Service; they must be carried over on update.
_SERVICE_ALLOCATED: Final = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort")


def _hashed(desired: JSON, owner: Obj) -> JSON:
    set_controller_reference(desired, owner)
    metadata = desired.setdefault("metadata", {})
    digest = stable_hash({k: v for k, v in desired.items() if k != "status"})
    metadata.setdefault("annotations", {})[ANNOTATION_SPEC_HASH] = digest
    return desired


def _apply_desired(resource: Resource, fresh: JSON, desired: JSON) -> bool:
    """Bring `fresh` (the live object) to `desired`; False when the hash says it already is."""
    if (
        annotations_of(fresh).get(ANNOTATION_SPEC_HASH)
        == desired["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    ):
        return False
    metadata = fresh.setdefault("metadata", {})
    want = desired["metadata"]
    metadata["labels"] = {**(metadata.get("labels") or {}), **(want.get("labels") or {})}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **want["annotations"]}
    metadata["ownerReferences"] = want["ownerReferences"]
    allocated: dict[str, Any] = {}
    if resource == SERVICES:
        spec = fresh.get("spec") or {}
        allocated = {k: spec[k] for k in _SERVICE_ALLOCATED if k in spec}
    for key, value in desired.items():
        if key not in _TOP_LEVEL_METADATA:
            fresh[key] = thaw(value)
    if allocated:
        fresh["spec"] = {**allocated, **fresh["spec"]}
    return True


class ChildWriter:
    """Writes children of one resource kind, reading what exists from the shared informer's cache."""

    def __init__(
        self, client: KubeClient, resource: Resource, informer: Informer, echoes: OwnWrites | None = None
    ) -> None:
        self.client = client
        self.resource = resource
        self.informer = informer
        # Versions written here: their watch events need not trigger another pass.
        self.echoes = echoes if echoes is not None else OwnWrites()

    def cached(self, namespace: str, name: str) -> Obj | None:
        return self.informer.store.get(ObjectKey(namespace, name))

    async def ensure(self, desired: JSON, owner: Obj, *, update: bool = True) -> tuple[Obj | JSON, str]:
        """Create or update `desired`; returns the object and "created", "updated" or "" (unchanged)."""
        desired = _hashed(desired, owner)
        namespace = desired["metadata"]["namespace"]
        name = desired["metadata"]["name"]
        existing: Obj | JSON | None = self.cached(namespace, name)
        if existing is None:
            try:
                with self.echoes.creating(self.resource, namespace, name):
                    return await self.client.create(self.resource, desired), "created"
            except Exception as error:
                if not is_already_exists(error):
                    raise
            existing = await self.client.get(self.resource, name, namespace)
        if (
            not update
            or annotations_of(existing).get(ANNOTATION_SPEC_HASH)
            == (desired["metadata"]["annotations"][ANNOTATION_SPEC_HASH])
        ):
            return existing, ""
        changed = False

        def mutation(fresh: JSON) -> bool:
            nonlocal changed
            changed = _apply_desired(self.resource, fresh, desired)
            return changed

        written = await self.client.mutate(self.resource, namespace, name, mutation, current=existing)
        if changed:  # the last attempt wrote: `written` is the server's answer
            self.echoes.expect(written)
        return written, "updated"

    async def delete(self, namespace: str, name: str) -> bool:
        """Delete if present (cache first); True when a delete was sent."""
        if self.cached(namespace, name) is None:
            return False
        try:
            await self.client.delete(self.resource, name, namespace, propagation="Background")
        except NotFoundError:
            return False
        return True
