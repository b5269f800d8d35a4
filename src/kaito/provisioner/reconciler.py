"""The NodeClaim reconciler: launch the cloud instance, register its Node, delete both behind a finalizer.

One pass, top to bottom: kaito's NodeClaims only; a deleted NodeClaim deletes its instance (and any
lingering Node) before the finalizer goes; otherwise the finalizer is added before anything is created,
the launch runs as a tracked task (create adopts an instance already there, so restarts never duplicate),
its outcome lands in the Launched condition, and once launched the Node found by `agentpool=<name>`
fills providerID, nodeName, capacity and Registered / Initialized / Ready.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import structlog
from pydantic import ValidationError

from kaito.api.constants import (
    KARPENTER_GROUP,
    KARPENTER_VERSION,
    LABEL_WORKSPACE,
    NODECLAIM_CONDITION_LAUNCHED,
    NODECLAIM_KIND,
    NODECLAIM_PLURAL,
)
from kaito.api.errors import describe
from kaito.api.nodeclaim import NodeClaim, NodeClaimStatus
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.controller import Recorder, Request, Result, TerminalError
from kaito.controllers.errors import NotFoundError
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey, labels_of, meta, thaw
from kaito.controllers.ownership import add_finalizer, has_finalizer, is_being_deleted, remove_finalizer
from kaito.controllers.resource import NODES, Resource
from kaito.provisioner import metrics, nodeclaims, registration
from kaito.provisioner.cloud import CloudProvider, Instance
from kaito.provisioner.operations import CloudOperation, OperationTracker

log = structlog.get_logger(__name__)

NODECLAIMS: Final = Resource(
    KARPENTER_GROUP, KARPENTER_VERSION, NODECLAIM_PLURAL, NODECLAIM_KIND, namespaced=False
)
TERMINATION_FINALIZER: Final = "karpenter.sh/termination"
# Operations report back through the tracker's callback; this requeue only guards against a lost wake-up.
SAFETY_REQUEUE_S: Final = 60.0


def nodes_of(nodes: Informer, pool: str) -> list[Obj]:
    """Nodes of an agent pool (or simulated instance), by either of the labels AKS puts on them."""
    found = nodes.store.select({"matchLabels": {nodeclaims.LABEL_AGENTPOOL: pool}})
    if not found:
        found = nodes.store.select({"matchLabels": {nodeclaims.LABEL_AKS_AGENTPOOL: pool}})
    return list(found)


def nodeclaim_keys_of_node(node: Obj) -> Iterable[ObjectKey]:
    """Maps a Node to the NodeClaim named by its agent pool label (for the Node watch)."""
    labels = labels_of(node)
    pool = labels.get(nodeclaims.LABEL_AGENTPOOL) or labels.get(nodeclaims.LABEL_AKS_AGENTPOOL)
    return (ObjectKey("", pool),) if pool else ()


class NodeClaimReconciler:
    """Drives one NodeClaim at a time towards a Ready node (or towards deletion)."""

    def __init__(
        self,
        *,
        client: KubeClient,
        provider: CloudProvider,
        nodeclaim_informer: Informer,
        node_informer: Informer,
        tracker: OperationTracker,
        recorder: Recorder | None = None,
        node_poll_interval_s: float = 5.0,
    ) -> None:
        self.client = client
        self.provider = provider
        self.nodeclaims = nodeclaim_informer
        self.nodes = node_informer
        self.tracker = tracker
        self.recorder = recorder
        self.node_poll_interval_s = node_poll_interval_s

    # -- the pass ------------------------------------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result | None:
        cached = self.nodeclaims.store.get(request)
        name = request.name
        if cached is None:
            self.tracker.forget(name)
            return None
        obj: Obj = cached
        if LABEL_WORKSPACE not in labels_of(obj):
            return None  # not kaito's: Karpenter (or nobody) owns it
        if is_being_deleted(obj):
            return await self._finalize(obj, name)
        try:
            claim = NodeClaim.from_kube(thaw(obj))
        except ValidationError as exc:
            raise TerminalError(
                f"NodeClaim {name} cannot be read: {describe(exc)}", reason="InvalidNodeClaim"
            ) from exc
        if not has_finalizer(obj, TERMINATION_FINALIZER):
            # Before any cloud resource exists, so deleting the NodeClaim can always clean up after it.
            obj = await add_finalizer(self.client, NODECLAIMS, obj, TERMINATION_FINALIZER)
        launched = claim.status.condition(NODECLAIM_CONDITION_LAUNCHED) if claim.status else None
        if launched is None or not launched.is_true:
            return await self._launch(obj, claim)
        return await self._register(obj, claim)

    # -- launch --------------------------------------------------------------------------------------------
    async def _launch(self, obj: Obj, claim: NodeClaim) -> Result | None:
        name = claim.metadata.name
        generation = claim.metadata.generation
        operation = self.tracker.get(name)
        if operation is not None and operation.kind == "create" and not operation.done:
            return Result(requeue_after=SAFETY_REQUEUE_S)
        finished = self.tracker.take(name)
        if finished is None or finished.kind != "create":
            if self.tracker.failed_permanently(name, generation):
                return None
            wait = self.tracker.retry_in(name)
            if wait > 0:
                return Result(requeue_after=wait)
            self.tracker.start(name, "create", self.provider.create(claim))
            if claim.status is None or claim.status.condition(NODECLAIM_CONDITION_LAUNCHED) is None:
                # A retry keeps the last failure visible until an attempt succeeds.
                message = f"creating {self.provider.name} instance {name} ({_describe_type(claim)})"
                await self._write_status(obj, lambda s: registration.mark_launching(s, message, generation))
            return Result(requeue_after=SAFETY_REQUEUE_S)
        instance, error = finished.outcome()
        self._observe(finished, "error" if error is not None else "success")
        if error is not None:
            metrics.LAUNCH_FAILURES.labels(self.provider.name, error.code).inc()
            retry_in = self.tracker.record_failure(name) if error.retryable else None
            if not error.retryable:
                self.tracker.record_permanent_failure(name, generation)
            await self._write_status(
                obj,
                lambda s: registration.mark_launch_failed(s, error, self.provider.name, generation, retry_in),
            )
            self._event(
                obj, "Warning", registration.condition_reason(error.code), f"{error.code}: {error.message}"
            )
            log.warning("launch failed", nodeclaim=name, code=error.code, retry_in=retry_in)
            return Result(requeue_after=retry_in) if retry_in is not None else None
        assert instance is not None
        self.tracker.record_success(name)
        launched_instance: Instance = instance
        obj = await self._write_status(
            obj, lambda s: registration.mark_launched(s, launched_instance, generation)
        )
        self._event(
            obj,
            "Normal",
            "Launched",
            f"{self.provider.name} instance {name} ({instance.instance_type}) launched",
        )
        return await self._register(obj, claim)

    # -- registration --------------------------------------------------------------------------------------
    async def _register(self, obj: Obj, claim: NodeClaim) -> Result | None:
        name = claim.metadata.name
        generation = claim.metadata.generation
        found = nodes_of(self.nodes, name)
        if not found:
            await self._write_status(obj, lambda s: registration.mark_waiting_for_node(s, name, generation))
            return Result(requeue_after=self.node_poll_interval_s)
        node = found[0]
        await self._write_status(obj, lambda s: registration.mark_registered(s, node, generation))
        return None

    # -- deletion ------------------------------------------------------------------------------------------
    async def _finalize(self, obj: Obj, name: str) -> Result | None:
        if not has_finalizer(obj, TERMINATION_FINALIZER):
            return None
        operation = self.tracker.get(name)
        if operation is not None and operation.kind == "create":
            await self.tracker.cancel(name)  # the delete below also removes a half-created instance
            operation = None
        if operation is None:
            self.tracker.start(name, "delete", self._delete_instance(name))
            return Result(requeue_after=SAFETY_REQUEUE_S)
        if not operation.done:
            return Result(requeue_after=SAFETY_REQUEUE_S)
        finished = self.tracker.take(name)
        assert finished is not None
        _, error = finished.outcome()
        self._observe(finished, "error" if error is not None else "success")
        if error is not None:
            delay = self.tracker.record_failure(name)
            self._event(
                obj, "Warning", "DeleteFailed", f"{error.code}: {error.message}; retrying in {delay:.0f}s"
            )
            log.warning("instance delete failed", nodeclaim=name, code=error.code, retry_in=delay)
            return Result(requeue_after=delay)
        with contextlib.suppress(NotFoundError):
            await remove_finalizer(self.client, NODECLAIMS, obj, TERMINATION_FINALIZER)
        self.tracker.forget(name)
        log.info("nodeclaim finalized", nodeclaim=name)
        return None

    async def _delete_instance(self, name: str) -> None:
        await self.provider.delete(name)
        for node in nodes_of(self.nodes, name):
            with contextlib.suppress(NotFoundError):
                await self.client.delete(NODES, str(meta(node)["name"]))

    # -- helpers -------------------------------------------------------------------------------------------
    async def _write_status(self, obj: Obj, edit: Callable[[NodeClaimStatus], None]) -> Obj:
        """Apply `edit` to the NodeClaim's status and write it (no write when nothing changed)."""

        def mutation(fresh: JSON) -> bool:
            status = NodeClaimStatus.from_kube(fresh.get("status") or {})
            before = status.to_kube()
            edit(status)
            after = status.to_kube()
            if after == before:
                return False
            fresh["status"] = after
            return True

        key = meta(obj)["name"]
        written: Mapping[str, Any] = await self.client.mutate_status(
            NODECLAIMS, None, key, mutation, current=obj
        )
        return written

    def _observe(self, operation: CloudOperation, result: str) -> None:
        metrics.CLOUD_OPERATION_SECONDS.labels(self.provider.name, operation.kind, result).observe(
            time.monotonic() - operation.started
        )

    def _event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(obj, type_, reason, message)


def _describe_type(claim: NodeClaim) -> str:
    try:
        return nodeclaims.instance_type(claim)
    except Exception:
        return "no instance type"
