"""The inference workload of a Workspace: its two Services and its StatefulSet (pod template included).

Single-node plans use a StatefulSet too, not a Deployment. A GPU node holds exactly the GPUs of one pod,
so a Deployment's surge-first rolling update would wait forever for a GPU its own old pod holds; a
StatefulSet replaces pods one at a time, old pod first, which frees the GPUs before the new pod needs them.
It also gives stable pod names (`<workspace>-N`) behind `<workspace>-headless`, which multi-node serving
needs anyway, so one code path serves both.

Weights arrive before the engine starts: the `weights` init container (`kaito weights fetch --preset`) puts
them in the weights volume, an emptyDir by default (fetched again by every new pod) or, with
`KAITO_WEIGHTS_STORAGE_CLASS`, a PVC per pod from `volumeClaimTemplates` (kept across restarts and updates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from kaito.api.constants import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE
from kaito.api.runtime import RAY_PORT
from kaito.api.weights import WEIGHTS_CONTAINER
from kaito.api.workspace import Workspace
from kaito.controllers.objects import thaw
from kaito.reconcilers.names import (
    ANNOTATION_RUNTIME_HASH,
    adapters_configmap_name,
    headless_service_name,
    runtime_configmap_name,
    service_name,
    workload_name,
    workspace_labels,
)
from kaito.reconcilers.nodes import GPU_RESOURCE
from kaito.reconcilers.runtime_config import (
    ADAPTER_FILES_DIR,
    ADAPTERS_DIR,
    RUNTIME_CONFIG_DIR,
    RUNTIME_CONFIG_KEY,
    SERVING_PORT,
    WEIGHTS_DIR,
    adapter_volume_path,
)
from kaito.reconcilers.settings import WorkspaceSettings

TORCHRUN_PORT: Final = 29500
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"
CONTAINER_NAME: Final = "inference"
WEIGHTS_VOLUME: Final = "weights"
TERMINATION_LOG: Final = "/dev/termination-log"
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"
PROBE_PERIOD_S: Final = 10

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkloadShape:
    """How many pods, with how many GPUs each, and how long the engine may take to start."""

    pods: int
    gpus_per_pod: int
    multi_node: bool
    byo_nodes: tuple[str, ...]
    startup_budget_s: int
    # Size of a per-pod weights PVC (with a weights storage class): the plan's disk.
    weights_disk_gib: int = 0


def gpu_tolerations() -> list[JSON]:
    return [
        {"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT},
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
    ]


def node_affinity(workspace: Workspace, byo_nodes: tuple[str, ...]) -> JSON:
    """Nodes matching the labelSelector that are either the chosen bring-your-own nodes (by hostname) or
    nodes provisioned for this Workspace (by its labels, which its NodeClaims stamp on them).

    The provisioned term names no node, so scaling (more NodeClaims) leaves the pod template, and so the
    running replicas, untouched; only a change in the set of bring-your-own nodes rolls the pods.
    """
    selector = workspace.resource.label_selector
    base: list[JSON] = [
        {"key": key, "operator": "In", "values": [value]}
        for key, value in sorted((selector.match_labels or {}).items())
    ]
    for requirement in selector.match_expressions or []:
        expression: JSON = {"key": requirement.key, "operator": requirement.operator.value}
        if requirement.values:
            expression["values"] = list(requirement.values)
        base.append(expression)
    terms: list[JSON] = []
    if byo_nodes:
        hostnames = {"key": HOSTNAME_LABEL, "operator": "In", "values": sorted(byo_nodes)}
        terms.append({"matchExpressions": [*base, hostnames]})
    if workspace.resource.instance_type:
        owned = [
            {"key": key, "operator": "In", "values": [value]}
            for key, value in sorted(workspace_labels(workspace).items())
        ]
        terms.append({"matchExpressions": [*base, *owned]})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def services(workspace: Workspace, *, multi_node: bool) -> list[JSON]:
    """`<ws>` (80→5000 http, 29500 torchrun; LoadBalancer with kaito.sh/enablelb) and `<ws>-headless`."""
    labels = workspace_labels(workspace)
    namespace = workspace.metadata.namespace
    # Multi-node: only pod 0 runs the API server.
    selector = labels | ({POD_INDEX_LABEL: "0"} if multi_node else {})
    main = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name(workspace), "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "type": "LoadBalancer" if workspace.load_balancer_enabled else "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": SERVING_PORT},
                {"name": "torchrun", "protocol": "TCP", "port": TORCHRUN_PORT, "targetPort": TORCHRUN_PORT},
            ],
        },
    }
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": headless_service_name(workspace),
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": dict(labels),
            "ports": [
                {"name": "http", "protocol": "TCP", "port": SERVING_PORT, "targetPort": SERVING_PORT},
                {"name": "ray", "protocol": "TCP", "port": RAY_PORT, "targetPort": RAY_PORT},
                {"name": "torchrun", "protocol": "TCP", "port": TORCHRUN_PORT, "targetPort": TORCHRUN_PORT},
            ],
        },
    }
    return [main, headless]


def _probes(shape: WorkloadShape, workspace: Workspace) -> JSON:
    if shape.multi_node:
        # Workers run no API server; every pod is healthy while the group's Ray head answers.
        head = f"{workspace.metadata.name}-0.{headless_service_name(workspace)}"
        check: JSON = {"exec": {"command": ["ray", "health-check", f"--address={head}:{RAY_PORT}"]}}
    else:
        check = {"httpGet": {"path": "/health", "port": SERVING_PORT}}
    return {
        "startupProbe": check
        | {
            "periodSeconds": PROBE_PERIOD_S,
            "failureThreshold": max(1, math.ceil(shape.startup_budget_s / PROBE_PERIOD_S)),
        },
        "readinessProbe": check | {"periodSeconds": PROBE_PERIOD_S, "failureThreshold": 3},
        "livenessProbe": check | {"periodSeconds": 2 * PROBE_PERIOD_S, "failureThreshold": 6},
    }


def _model_access_secret(workspace: Workspace) -> str | None:
    preset = workspace.inference.preset if workspace.inference else None
    options = preset.preset_options if preset else None
    return options.model_access_secret if options is not None and options.model_access_secret else None


def _token_env(workspace: Workspace) -> list[JSON]:
    """HF_TOKEN from presetOptions.modelAccessSecret, and the Secret's name for failure messages."""
    secret = _model_access_secret(workspace)
    if secret is None:
        return []
    return [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "HF_TOKEN"}}},
        {"name": "KAITO_MODEL_ACCESS_SECRET", "value": secret},
    ]


def _env(workspace: Workspace) -> list[JSON]:
    env: list[JSON] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "HF_HOME", "value": WEIGHTS_DIR},
    ]
    return env + _token_env(workspace)


def weights_init_container(workspace: Workspace, settings: WorkspaceSettings) -> JSON:
    """`kaito weights fetch` of the preset into the weights volume, before the engine starts.

    It leaves the model in `kaito.api.weights.hub_model_dir(repo, revision)`, the RuntimeConfig's model path.
    A failure exits non-zero with `<Reason>: <text>` in its termination message, which the status shows.
    """
    assert workspace.inference is not None
    assert workspace.inference.preset is not None
    command = ["kaito", "weights", "fetch", "--preset", workspace.inference.preset.name]
    command += ["--cache", WEIGHTS_DIR, "--termination-log", TERMINATION_LOG]
    return {
        "name": WEIGHTS_CONTAINER,
        "image": settings.inference_image,
        "command": command,
        "env": [{"name": "HF_HOME", "value": WEIGHTS_DIR}, *_token_env(workspace)],
        "volumeMounts": [{"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_DIR}],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def weights_claim_template(storage_class: str, disk_gib: int) -> JSON:
    """The per-pod PVC the weights volume comes from when a weights storage class is configured."""
    return {
        "metadata": {"name": WEIGHTS_VOLUME},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": f"{max(disk_gib, 1)}Gi"}},
        },
    }


def preset_pod_template(
    workspace: Workspace, shape: WorkloadShape, settings: WorkspaceSettings, runtime_hash: str
) -> JSON:
    """The pod running `kaito serve` with the runtime config, the adapters list and the GPU limits."""
    gpus = str(shape.gpus_per_pod)
    mounts: list[JSON] = [
        {"name": "runtime-config", "mountPath": RUNTIME_CONFIG_DIR, "readOnly": True},
        # No subPath: ConfigMap updates reach the pod only through a whole-directory mount.
        {"name": "adapters-desired", "mountPath": ADAPTERS_DIR, "readOnly": True},
        {"name": "adapters", "mountPath": ADAPTER_FILES_DIR},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_DIR},
    ]
    volumes: list[JSON] = [
        {"name": "runtime-config", "configMap": {"name": runtime_configmap_name(workspace)}},
        {"name": "adapters-desired", "configMap": {"name": adapters_configmap_name(workspace)}},
        {"name": "adapters", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
    ]
    if not settings.weights_storage_class:  # else the StatefulSet's volumeClaimTemplates provide it
        volumes.append({"name": WEIGHTS_VOLUME, "emptyDir": {}})
    # A volume cannot be attached to a running pod, so volume adapters are part of the template.
    for index, adapter in enumerate(workspace.inference.adapters if workspace.inference else []):
        if adapter.source.volume_source is not None:
            volumes.append({"name": f"adapter-volume-{index}", **thaw(adapter.source.volume_source)})
            mounts.append(
                {
                    "name": f"adapter-volume-{index}",
                    "mountPath": adapter_volume_path(adapter.name),
                    "readOnly": True,
                }
            )
    container: JSON = {
        "name": CONTAINER_NAME,
        "image": settings.inference_image,
        "command": ["kaito", "serve", "--config", f"{RUNTIME_CONFIG_DIR}/{RUNTIME_CONFIG_KEY}"],
        "ports": [
            {"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"},
            {"name": "torchrun", "containerPort": TORCHRUN_PORT, "protocol": "TCP"},
            {"name": "ray", "containerPort": RAY_PORT, "protocol": "TCP"},
        ],
        "env": _env(workspace),
        "resources": {"requests": {GPU_RESOURCE: gpus}, "limits": {GPU_RESOURCE: gpus}},
        "volumeMounts": mounts,
        **_probes(shape, workspace),
    }
    preset = workspace.inference.preset if workspace.inference else None
    pull_secrets = list(settings.image_pull_secrets)
    if preset is not None and preset.preset_options is not None:
        pull_secrets += preset.preset_options.image_pull_secrets
    spec: JSON = {
        "initContainers": [weights_init_container(workspace, settings)],
        "containers": [container],
        "volumes": volumes,
        "tolerations": gpu_tolerations(),
        "affinity": node_affinity(workspace, shape.byo_nodes),
        "terminationGracePeriodSeconds": 30,
    }
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return {
        "metadata": {
            "labels": workspace_labels(workspace),
            "annotations": {ANNOTATION_RUNTIME_HASH: runtime_hash},
        },
        "spec": spec,
    }


def custom_pod_template(workspace: Workspace, shape: WorkloadShape) -> JSON:
    """`inference.template` used as the user wrote it, plus kaito's labels, GPU tolerations and nodes."""
    raw = workspace.inference.template if workspace.inference else None
    template: JSON = thaw(raw or {})
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **workspace_labels(workspace)}
    spec = template.setdefault("spec", {})
    spec["tolerations"] = [*(spec.get("tolerations") or []), *gpu_tolerations()]
    if "affinity" not in spec:
        spec["affinity"] = node_affinity(workspace, shape.byo_nodes)
    return template


def statefulset(
    workspace: Workspace, shape: WorkloadShape, template: JSON, weights_storage_class: str | None = None
) -> JSON:
    """The StatefulSet: `pods` replicas; multi-node groups start in parallel (pod 0 leads).

    With `weights_storage_class` each pod gets a `weights` PVC of `shape.weights_disk_gib`.
    """
    workload: JSON = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": workload_name(workspace),
            "namespace": workspace.metadata.namespace,
            "labels": workspace_labels(workspace),
        },
        "spec": {
            "replicas": shape.pods,
            "serviceName": headless_service_name(workspace),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": workspace_labels(workspace)},
            "template": template,
            "updateStrategy": {"type": "RollingUpdate"},
        },
    }
    if weights_storage_class:
        claim = weights_claim_template(weights_storage_class, shape.weights_disk_gib)
        workload["spec"]["volumeClaimTemplates"] = [claim]
    return workload
