"""Garbage collection both ways: kaito's instances no NodeClaim wants, NodeClaims whose instance is gone.

Runs as a one-key controller (so only the leader collects, and failures back off like any reconcile):
each pass lists the provider's instances once and compares them with the NodeClaim cache.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import structlog

from kaito.api.constants import LABEL_WORKSPACE, NODECLAIM_CONDITION_LAUNCHED
from kaito.controllers.client import KubeClient
from kaito.controllers.controller import Recorder, Request, Result
from kaito.controllers.errors import NotFoundError
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey, labels_of, meta
from kaito.controllers.ownership import is_being_deleted
from kaito.provisioner import metrics
from kaito.provisioner.cloud import CloudError, CloudProvider, Instance, InstanceState
from kaito.provisioner.operations import OperationTracker
from kaito.provisioner.reconciler import NODECLAIMS

log = structlog.get_logger(__name__)

GC_KEY: Final = ObjectKey("", "provisioner-garbage-collection")


def _launched(obj: Obj) -> bool:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == NODECLAIM_CONDITION_LAUNCHED:
            return bool(condition.get("status") == "True")
    return False


class GarbageCollector:
    """Deletes orphaned instances (past a grace period) and NodeClaims whose launched instance vanished."""

    def __init__(
        self,
        *,
        client: KubeClient,
        provider: CloudProvider,
        nodeclaim_informer: Informer,
        tracker: OperationTracker,
        recorder: Recorder | None = None,
        interval_s: float = 60.0,
        grace_s: float = 60.0,
    ) -> None:
        self.client = client
        self.provider = provider
        self.nodeclaims = nodeclaim_informer
        self.tracker = tracker
        self.recorder = recorder
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.passes = 0

    async def reconcile(self, request: Request) -> Result:
        await self.collect()
        return Result(requeue_after=self.interval_s)

    async def collect(self) -> tuple[list[str], list[str]]:
        """One pass; returns (instances deleted, NodeClaims deleted)."""
        instances = await self.provider.list()
        claims: dict[str, Obj] = {str(meta(obj)["name"]): obj for obj in self.nodeclaims.store.objects()}
        orphans = [i for i in instances if self._is_orphan(i, claims)]
        results = await asyncio.gather(*(self._delete_instance(i) for i in orphans), return_exceptions=True)
        deleted_instances = [i.name for i, r in zip(orphans, results, strict=True) if r is True]
        present = {i.name for i in instances}
        deleted_claims = []
        for name, obj in claims.items():
            if name in present or name in self.tracker or is_being_deleted(obj):
                continue
            if LABEL_WORKSPACE not in labels_of(obj) or not _launched(obj):
                continue
            if await self._claim_lost_instance(name, obj):
                deleted_claims.append(name)
        metrics.GARBAGE_COLLECTED.labels(self.provider.name, "instance").inc(len(deleted_instances))
        metrics.GARBAGE_COLLECTED.labels(self.provider.name, "nodeclaim").inc(len(deleted_claims))
        self.passes += 1
        return deleted_instances, deleted_claims

    def _is_orphan(self, instance: Instance, claims: dict[str, Obj]) -> bool:
        if instance.name in claims or instance.name in self.tracker:
            return False
        if instance.state is InstanceState.DELETING:
            return False
        if instance.created_at is not None:
            age = (datetime.now(UTC) - instance.created_at).total_seconds()
            if age < self.grace_s:
                return False  # the NodeClaim that asked for it may not be in our cache yet
        return True

    async def _delete_instance(self, instance: Instance) -> bool:
        log.info("deleting orphaned instance", instance=instance.name, nodeclaim=instance.nodeclaim)
        try:
            await self.provider.delete(instance.name)
        except CloudError as exc:
            log.warning("orphan delete failed", instance=instance.name, code=exc.code, error=exc.message)
            return False
        return True

    async def _claim_lost_instance(self, name: str, obj: Obj) -> bool:
        # The list may predate a create that just finished elsewhere: confirm with a direct read.
        try:
            if await self.provider.get(name) is not None:
                return False
        except CloudError as exc:
            log.warning("could not confirm instance", nodeclaim=name, code=exc.code)
            return False
        log.info("deleting nodeclaim whose instance is gone", nodeclaim=name)
        if self.recorder is not None:
            self.recorder.event(
                obj,
                "Warning",
                "InstanceGone",
                f"the {self.provider.name} instance {name} no longer exists; deleting the NodeClaim",
            )
        try:
            await self.client.delete(NODECLAIMS, name)
        except NotFoundError:
            return False
        return True
