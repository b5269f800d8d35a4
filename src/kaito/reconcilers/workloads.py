"""Writes a placed Workspace's children and reads back how they are doing: inference or tuning."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kaito.api.runtime import dump_config
from kaito.api.workspace import Workspace
from kaito.controllers.client import KubeClient
from kaito.controllers.echoes import OwnWrites
from kaito.controllers.objects import Obj, thaw
from kaito.controllers.resource import CONFIGMAPS, JOBS, SERVICES, STATEFULSETS
from kaito.presets import get_preset
from kaito.reconcilers import inference as build
from kaito.reconcilers.children import ChildWriter
from kaito.reconcilers.names import (
    adapters_configmap_name,
    runtime_configmap_name,
    selector_string,
    stable_hash,
    workspace_labels,
)
from kaito.reconcilers.placement import Placement, Sizing
from kaito.reconcilers.pods import PodProblem, job_outcome, summarize_pods
from kaito.reconcilers.runtime_config import (
    ADAPTERS_KEY,
    RUNTIME_CONFIG_KEY,
    UserInferenceConfig,
    adapters_yaml,
    desired_adapters,
    runtime_config,
    to_yaml,
)
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.status import STATE_FAILED, STATE_RUNNING, STATE_SUCCEEDED, StatusBuilder
from kaito.reconcilers.tuning import CONFIG_KEY, tuning_config, tuning_configmap_name, tuning_job

if TYPE_CHECKING:
    from kaito.reconcilers.reconciler import Caches

EventSink = Callable[[Obj, str, str, str], None]


def startup_budget_s(settings: WorkspaceSettings, weights_gib: float) -> int:
    """Seconds the engine may take to load its weights before the startup probe gives up.

    The `weights` init container downloads them first and is not probed, so the budget covers only reading
    the weights from the cache volume into GPU memory and compiling: a fixed base plus a per-GiB share.
    """
    return settings.startup_base_s + math.ceil(weights_gib * settings.startup_s_per_weight_gib)


def configmap(workspace: Workspace, name: str, key: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": workspace.metadata.namespace,
            "labels": workspace_labels(workspace),
        },
        "data": {key: text},
    }


class Children:
    """The ConfigMaps, Services and StatefulSet (inference) or ConfigMap and Job (tuning) of Workspaces."""

    def __init__(
        self,
        client: KubeClient,
        caches: Caches,
        settings: WorkspaceSettings,
        event: EventSink,
        echoes: OwnWrites | None = None,
    ):
        self.caches = caches
        self.settings = settings
        self.event = event
        self.configmaps = ChildWriter(client, CONFIGMAPS, caches.configmaps, echoes)
        self.services = ChildWriter(client, SERVICES, caches.services, echoes)
        self.statefulsets = ChildWriter(client, STATEFULSETS, caches.statefulsets, echoes)
        self.jobs = ChildWriter(client, JOBS, caches.jobs, echoes)

    async def _ensure(
        self, writer: ChildWriter, desired: dict[str, Any], owner: Obj, *, event: bool = False, **kw: Any
    ) -> Obj:
        written, action = await writer.ensure(desired, owner, **kw)
        if action and event:
            kind, name = desired["kind"], desired["metadata"]["name"]
            self.event(owner, "Normal", f"{kind}{action.capitalize()}", f"{action} {kind} {name}")
        return written

    async def inference(
        self,
        workspace: Workspace,
        owner: Obj,
        sizing: Sizing,
        placement: Placement,
        user: UserInferenceConfig | None,
        builder: StatusBuilder,
    ) -> PodProblem | None:
        """Write the inference children and set InferenceReady from the pods; the problem it names, if any."""
        assert workspace.inference is not None
        multi = sizing.multi_node
        preset = get_preset(workspace.inference.preset.name) if workspace.inference.preset else None
        shape = build.WorkloadShape(
            pods=sizing.plan.nodes if multi and sizing.plan else sizing.target_nodes,
            gpus_per_pod=sizing.gpus_per_pod,
            multi_node=multi,
            byo_nodes=tuple(placement.byo),
            startup_budget_s=startup_budget_s(self.settings, preset.weights_gib if preset else 0.0),
            weights_disk_gib=sizing.disk_gib,
        )
        writes = []
        storage_class: str | None = None  # only preset pods have a weights volume
        if preset is not None and sizing.plan is not None:
            storage_class = self.settings.weights_storage_class
            runtime = dump_config(runtime_config(workspace, preset, sizing.plan, multi_node=multi, user=user))
            runtime_cm = configmap(workspace, runtime_configmap_name(workspace), RUNTIME_CONFIG_KEY, runtime)
            # Adapter-only edits change only this ConfigMap: the pods hot-load them, nothing restarts.
            adapters = adapters_yaml(desired_adapters(workspace))
            adapters_cm = configmap(workspace, adapters_configmap_name(workspace), ADAPTERS_KEY, adapters)
            writes += [
                self._ensure(self.configmaps, runtime_cm, owner),
                self._ensure(self.configmaps, adapters_cm, owner),
            ]
            template = build.preset_pod_template(workspace, shape, self.settings, stable_hash(runtime))
        else:
            template = build.custom_pod_template(workspace, shape)
        writes += [
            self._ensure(self.services, service, owner)
            for service in build.services(workspace, multi_node=multi)
        ]
        workload = build.statefulset(workspace, shape, template, storage_class)
        writes.append(self._ensure(self.statefulsets, workload, owner, event=True))
        # Independent objects: written concurrently (the kubelet waits for the ConfigMaps if it must).
        await asyncio.gather(*writes)

        labels = workspace_labels(workspace)
        pods = self.caches.pods.store.select({"matchLabels": labels}, workspace.metadata.namespace)
        summary = summarize_pods(pods)
        if summary.ready >= shape.pods:
            builder.inference(True, "InferenceReady", f"{summary.ready} inference pod(s) ready")
        elif summary.problem is not None:
            problem = summary.problem
            builder.inference(False, problem.reason, f"pod {problem.pod}: {problem.message}")
        else:
            builder.inference(
                False, "PodsStarting", f"{summary.ready} of {shape.pods} inference pod(s) ready"
            )
        per_replica = shape.pods if multi else sizing.nodes_per_replica
        builder.status.replicas = min(summary.ready, shape.pods) // max(per_replica, 1)
        builder.status.selector = selector_string(labels)
        builder.summarize_inference()
        return None if summary.ready >= shape.pods else summary.problem

    async def tuning(
        self, workspace: Workspace, owner: Obj, sizing: Sizing, placement: Placement, builder: StatusBuilder
    ) -> None:
        assert workspace.tuning is not None
        assert sizing.plan is not None
        preset = get_preset(workspace.tuning.preset.name)
        config = to_yaml(tuning_config(workspace, preset, sizing.plan).model_dump(mode="json", by_alias=True))
        await self._ensure(
            self.configmaps, configmap(workspace, tuning_configmap_name(workspace), CONFIG_KEY, config), owner
        )
        # A tuning run is one-shot: its Job is never rewritten once created.
        job = await self._ensure(
            self.jobs, tuning_job(workspace, sizing.plan, tuple(placement.byo), self.settings), owner,
            update=False, event=True,
        )  # fmt: skip
        cached = self.jobs.cached(workspace.metadata.namespace, job["metadata"]["name"])
        outcome = job_outcome(thaw(cached) if cached is not None else job)
        pods = self.caches.pods.store.select(
            {"matchLabels": workspace_labels(workspace)}, workspace.metadata.namespace
        )
        summary = summarize_pods(pods)
        if outcome.started:
            builder.job_started(True, "JobStarted", "the tuning Job is running")
        elif summary.problem is not None:
            problem = summary.problem
            builder.job_started(False, problem.reason, f"pod {problem.pod}: {problem.message}")
        else:
            builder.job_started(False, "JobPending", "the tuning Job has not started a pod yet")
        if outcome.finished:
            builder.succeeded(outcome.succeeded, outcome.reason, outcome.message)
            builder.ready(outcome.succeeded, outcome.reason, outcome.message or "tuning finished")
            builder.status.state = STATE_SUCCEEDED if outcome.succeeded else STATE_FAILED
        else:
            builder.succeeded(None, outcome.reason, "tuning has not finished")
            trouble = summary.problem
            reason = trouble.reason if trouble else outcome.reason
            message = f"pod {trouble.pod}: {trouble.message}" if trouble else "tuning is running"
            builder.ready(False, reason, message)
            builder.status.state = STATE_RUNNING
