"""The Workspace reconciler: one level-based pass from the cached Workspace to nodes, workload and status.

Each pass: read the Workspace from the cache; if it is being deleted, delete its NodeClaims and drop the
finalizer once they are gone; otherwise validate (the webhook's rules), stamp finalizer + revision, size it,
place it on nodes (bring-your-own first, NodeClaims for the rest), write its children, and recompute the
whole status from what is observed, writing it only when it changed. Failures a retry cannot fix are
reported in conditions and not requeued: the next spec change (a new generation) reconciles again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import structlog
from pydantic import ValidationError

from kaito.api.constants import (
    CONDITION_INFERENCE_READY,
    CONDITION_RESOURCE_READY,
    CONDITION_WORKSPACE_READY,
    FINALIZER,
    LABEL_WORKSPACE,
    LABEL_WORKSPACE_NAMESPACE,
)
from kaito.api.errors import describe
from kaito.api.nodeclaim import NodeClaim
from kaito.api.workspace import Workspace
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.controller import Recorder, Request, Result, TerminalError
from kaito.controllers.echoes import OwnWrites
from kaito.controllers.errors import NotFoundError, is_already_exists
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey, resource_version_of, thaw
from kaito.controllers.ownership import remove_finalizer
from kaito.controllers.resource import CONFIGMAPS
from kaito.presets import PlanError
from kaito.reconcilers import metrics, workloads
from kaito.reconcilers.names import ANNOTATION_REVISION, NODECLAIMS, WORKSPACES, nodeclaim_name, revision
from kaito.reconcilers.nodeclaims import ClaimState, claim_state
from kaito.reconcilers.nodes import NodeFacts
from kaito.reconcilers.placement import NodesNotFound, Placement, Sizing, place, size
from kaito.reconcilers.runtime_config import UserConfigError, UserInferenceConfig, parse_user_config
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.status import STATE_DELETING, StatusBuilder, write_status
from kaito.reconcilers.validate import blocking_issues, summarize
from kaito.reconcilers.weights_progress import WeightsProgressReader

log = structlog.get_logger(__name__)

# Deletion waits on NodeClaim delete events; this only guards against a lost one.
DELETION_SAFETY_REQUEUE_S: Final = 30.0


@dataclass(frozen=True)
class Caches:
    """The shared informers the reconciler reads instead of the API server."""

    workspaces: Informer
    nodeclaims: Informer
    nodes: Informer
    pods: Informer
    services: Informer
    configmaps: Informer
    statefulsets: Informer
    jobs: Informer


def _workspace_selector(namespace: str, name: str) -> dict[str, Any]:
    return {"matchLabels": {LABEL_WORKSPACE: name, LABEL_WORKSPACE_NAMESPACE: namespace}}


class WorkspaceReconciler:
    """Drives one Workspace at a time towards what it asks for."""

    def __init__(
        self,
        client: KubeClient,
        caches: Caches,
        settings: WorkspaceSettings,
        recorder: Recorder | None = None,
    ) -> None:
        self.client = client
        self.caches = caches
        self.settings = settings
        self.recorder = recorder
        self.states = metrics.StateTracker()
        # Versions of Workspaces, children and NodeClaims written by a pass: their watch events (setup's
        # `echoes.predicate()`) would only start one more pass that finds nothing to do.
        self.echoes = OwnWrites()
        self.children = workloads.Children(client, caches, settings, self._event, self.echoes)
        self.weights_progress = WeightsProgressReader(client, settings)
        # Workspaces we wrote whose new version the cache has not delivered yet: superseded versions, newest.
        self._written: dict[ObjectKey, tuple[set[str], Obj]] = {}

    # -- the pass ------------------------------------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result | None:
        try:
            result = await self._reconcile(request)
        except Exception:
            metrics.RECONCILE_OUTCOMES.labels("error").inc()
            raise
        metrics.RECONCILE_OUTCOMES.labels("requeue" if result else "done").inc()
        return result

    async def _reconcile(self, request: Request) -> Result | None:
        obj = self._newest(request, self.caches.workspaces.store.get(request))
        if obj is None:
            self.states.forget(request)
            await self._delete_claims(request.namespace, request.name, self.claims(request), bound=0)
            return None
        try:
            workspace = Workspace.model_validate(thaw(obj))
        except ValidationError as error:
            raise TerminalError(
                f"cannot read Workspace: {describe(error)}", reason="InvalidWorkspace"
            ) from None
        if workspace.metadata.deletion_timestamp is not None:
            return await self._finalize(workspace, obj)
        builder = StatusBuilder(workspace)
        result, latest = await self._converge(workspace, obj, builder)
        self._remember(request, latest, await write_status(self.client, latest, builder))
        self.states.observe(request, builder.status.state or "", workspace.preset_name or "custom")
        return result

    async def _converge(
        self, workspace: Workspace, obj: Obj, builder: StatusBuilder
    ) -> tuple[Result | None, Obj]:
        """Bring the world towards the Workspace; returns the result and the newest copy of the object
        (after the finalizer/revision write), so the status write does not start from a stale version."""
        issues = blocking_issues(workspace)
        if issues:
            reason, message = summarize(issues)
            on_resource = issues[0].field.startswith("resource.")
            builder.fail(
                reason,
                message,
                condition=CONDITION_RESOURCE_READY if on_resource else CONDITION_WORKSPACE_READY,
            )
            self._event(obj, "Warning", reason, message)
            return None, obj
        stamped = await self._stamp(workspace, obj)
        if stamped is not obj:
            self._remember(ObjectKey(*_key(workspace)), obj, stamped)
            obj = stamped
        return await self._place_and_run(workspace, obj, builder), obj

    async def _place_and_run(self, workspace: Workspace, obj: Obj, builder: StatusBuilder) -> Result | None:
        user: UserInferenceConfig | None = None
        inference = workspace.inference
        if inference is not None and inference.config and inference.preset is not None:
            loaded = await self._user_config(workspace, builder)
            if loaded is None:
                # ConfigMaps are not watched (that would cache every one in the cluster): look again later.
                return Result(requeue_after=self.settings.config_recheck_s)
            user = loaded
        nodes = self.node_facts(workspace)
        try:
            sizing = size(workspace, nodes, self.settings, max_model_len=user.max_model_len if user else None)
        except PlanError as error:
            message = error.message
            if error.suggested_skus:
                message += f"; instance types that fit: {', '.join(error.suggested_skus)}"
            builder.fail(error.reason, f"{error.field}: {message}", condition=CONDITION_RESOURCE_READY)
            self._event(obj, "Warning", error.reason, message)
            return None
        except NodesNotFound as waiting:
            builder.resource(False, "NodesNotFound", str(waiting))
            self._not_placed(workspace, builder)
            return None
        builder.status.target_node_count = sizing.target_nodes
        placement = place(workspace, sizing, nodes, self.claims(ObjectKey(*_key(workspace))), self.settings)
        await self._create_claims(obj, placement.to_create)
        if not placement.ready:
            builder.resource(False, placement.waiting_reason, placement.waiting_message)
            self._not_placed(workspace, builder)
            return None
        builder.resource(True, "NodesReady", f"{len(placement.chosen)} GPU node(s) ready")
        builder.status.worker_nodes = sorted(placement.chosen)
        if workspace.inference is not None:
            problem = await self.children.inference(workspace, obj, sizing, placement, user, builder)
            return await self.weights_progress.show(workspace, problem, builder)  # requeues while downloading
        await self.children.tuning(workspace, obj, sizing, placement, builder)
        return None

    def _not_placed(self, workspace: Workspace, builder: StatusBuilder) -> None:
        if workspace.inference is not None:
            builder.inference(False, "ResourceNotReady", "waiting for GPU nodes (see ResourceReady)")
            builder.summarize_inference()
        else:
            builder.job_started(False, "ResourceNotReady", "waiting for GPU nodes (see ResourceReady)")
            builder.ready(False, "ResourceNotReady", "waiting for GPU nodes (see ResourceReady)")
            builder.status.state = "Provisioning"

    # -- our own writes, ahead of the cache ---------------------------------------------------------------
    def _newest(self, key: ObjectKey, cached: Obj | None) -> Obj | None:
        """The cached Workspace, or our own newer write of it while the cache has not caught up yet.

        A pass that starts right after our finalizer or status write would otherwise judge a stale copy and
        pay a conflict and a re-read to find that nothing needs writing."""
        written = self._written.get(key)
        if cached is None or written is None:
            self._written.pop(key, None)
            return cached
        superseded, newest = written
        if resource_version_of(cached) in superseded:
            return newest
        del self._written[key]  # the cache caught up, or someone else wrote since
        return cached

    def _remember(self, key: ObjectKey, before: Obj, after: Obj | None) -> None:
        if after is None:
            return
        superseded = self._written[key][0] if key in self._written else set()
        self._written[key] = ({*superseded, resource_version_of(before)}, after)

    # -- metadata: finalizer and revision in one write -----------------------------------------------------
    async def _stamp(self, workspace: Workspace, obj: Obj) -> Obj:
        wanted = revision(workspace)
        metadata = workspace.metadata
        if FINALIZER in metadata.finalizers and metadata.annotations.get(ANNOTATION_REVISION) == wanted:
            return obj

        wrote = False

        def mutation(fresh: JSON) -> bool:
            nonlocal wrote
            meta = fresh["metadata"]
            finalizers: list[str] = meta.setdefault("finalizers", [])
            annotations: dict[str, str] = meta.setdefault("annotations", {})
            wrote = FINALIZER not in finalizers or annotations.get(ANNOTATION_REVISION) != wanted
            if FINALIZER not in finalizers:
                finalizers.append(FINALIZER)
            annotations[ANNOTATION_REVISION] = wanted
            return wrote

        stamped = await self.client.mutate(
            WORKSPACES, metadata.namespace, metadata.name, mutation, current=obj
        )
        if wrote:  # this pass goes on with the answer: the write's own event need not start another
            self.echoes.expect(stamped)
        return stamped

    async def _user_config(self, workspace: Workspace, builder: StatusBuilder) -> UserInferenceConfig | None:
        assert workspace.inference is not None
        assert workspace.inference.config
        name = workspace.inference.config
        try:
            configmap = await self.client.get(CONFIGMAPS, name, workspace.metadata.namespace)
        except NotFoundError:
            builder.fail(
                "ConfigMapNotFound",
                f"inference.config: ConfigMap {name!r} does not exist in namespace "
                f"{workspace.metadata.namespace!r}; create it (key inference_config.yaml)",
                condition=CONDITION_INFERENCE_READY,
            )
            return None
        try:
            return parse_user_config(configmap)
        except UserConfigError as error:
            builder.fail(
                "InvalidInferenceConfig", f"inference.config: {error}", condition=CONDITION_INFERENCE_READY
            )
            return None

    # -- nodes and NodeClaims ------------------------------------------------------------------------------
    def node_facts(self, workspace: Workspace) -> list[NodeFacts]:
        selector = workspace.resource.label_selector.to_kube()
        return [NodeFacts.from_node(n) for n in self.caches.nodes.store.select(selector)]

    def claims(self, key: ObjectKey) -> dict[str, ClaimState]:
        found = self.caches.nodeclaims.store.select(_workspace_selector(key.namespace, key.name))
        states = {}
        for raw in found:
            state = claim_state(NodeClaim.model_validate(thaw(raw)))
            states[state.name] = state
        return states

    async def _create_claims(self, owner: Obj, claims: list[NodeClaim]) -> None:
        for claim in claims:
            try:
                with self.echoes.creating(NODECLAIMS, "", claim.metadata.name):
                    await self.client.create(NODECLAIMS, claim.to_kube())
            except Exception as error:
                if not is_already_exists(error):
                    raise
                continue
            sku = claim.spec.requirements[0].values[0]
            self._event(
                owner, "Normal", "NodeClaimCreated", f"created NodeClaim {claim.metadata.name} ({sku})"
            )

    async def _delete_claims(
        self, namespace: str, name: str, claims: dict[str, ClaimState], *, bound: int
    ) -> list[str]:
        """Delete this Workspace's NodeClaims; the names still present (being deleted) are returned.

        Besides the cached claims, the first `bound` derived names are deleted too, in case one was created
        moments ago and the cache has not seen it yet."""
        names = set(claims) | {nodeclaim_name(namespace, name, i) for i in range(bound)}
        remaining = []
        for claim_name in sorted(names):
            state = claims.get(claim_name)
            if state is not None and state.deleting:
                remaining.append(claim_name)
                continue
            try:
                answer = await self.client.delete(NODECLAIMS, claim_name)
            except NotFoundError:
                continue
            if answer.get("kind") == "NodeClaim":  # still there, behind the provisioner's finalizer
                remaining.append(claim_name)
        return remaining

    async def _finalize(self, workspace: Workspace, obj: Obj) -> Result | None:
        key = ObjectKey(*_key(workspace))
        if FINALIZER not in workspace.metadata.finalizers:
            self.states.forget(key)
            return None
        status = workspace.status
        requested = workspace.resource.count * (workspace.desired_replicas or 1)
        bound = max(requested, (status.target_node_count or 0) if status else 0)
        remaining = await self._delete_claims(key.namespace, key.name, self.claims(key), bound=bound)
        if remaining:
            builder = StatusBuilder(workspace)
            builder.resource(False, "Deleting", f"waiting for NodeClaim(s) {', '.join(remaining)} to go")
            builder.status.state = STATE_DELETING
            await write_status(self.client, obj, builder)
            return Result(requeue_after=DELETION_SAFETY_REQUEUE_S)
        await remove_finalizer(self.client, WORKSPACES, obj, FINALIZER)
        self.states.forget(key)
        log.info("workspace finalized", workspace=str(key))
        return None

    def _event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(obj, type_, reason, message)


def _key(workspace: Workspace) -> tuple[str, str]:
    return workspace.metadata.namespace, workspace.metadata.name


__all__ = ["Caches", "Placement", "Sizing", "WorkspaceReconciler"]
