"""Local cloud provider for the embedded cluster: each NodeClaim becomes a simulated GPU Node after a delay.

The Node looks like what an AKS GPU pool plus NVIDIA GPU feature discovery would register: the SKU's
`nvidia.com/gpu` capacity, `nvidia.com/gpu.*` labels, the NodeClaim's labels and taints, `agentpool=<name>`
and a Ready condition. Nothing else is simulated; the local runner decides what "running" means on it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from kaito.api.constants import LABEL_INSTANCE_TYPE
from kaito.api.nodeclaim import NodeClaim
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.errors import NotFoundError, is_already_exists
from kaito.controllers.objects import Obj
from kaito.controllers.resource import NODES
from kaito.presets.skus import (
    LABEL_GPU_COUNT,
    LABEL_GPU_MEMORY,
    LABEL_GPU_PRODUCT,
    GpuSku,
    UnknownSkuError,
    get_sku,
)
from kaito.provisioner import nodeclaims
from kaito.provisioner.cloud import Instance, InstanceState, InvalidNodeClaimError

log = structlog.get_logger(__name__)

LABEL_PROVISIONED_BY: Final = "kaito.sh/provisioned-by"
PROVISIONED_BY_LOCAL: Final = "local"
LABEL_GPU_PRESENT: Final = "nvidia.com/gpu.present"
# The embedded cluster heartbeats and runs pods on Nodes carrying this label, whoever registered them.
LABEL_LOCALCLUSTER_MANAGED: Final = "localcluster.kaito.sh/managed"
ANNOTATION_NODECLAIM: Final = "kaito.sh/nodeclaim"
ANNOTATION_CREATED: Final = "kaito.sh/creation-timestamp"
PROVIDER_ID_PREFIX: Final = "kaito-local:///"
# Simulated host resources per GPU (the catalog only knows GPUs).
_CPU_PER_GPU: Final = 8
_MEMORY_GI_PER_GPU: Final = 64
_DEFAULT_DISK_GI: Final = 256


def simulated_node(claim: NodeClaim, sku: GpuSku, *, now: datetime | None = None) -> JSON:
    """The Node object a NodeClaim of this SKU becomes."""
    name = claim.metadata.name
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = nodeclaims.node_labels(claim) | {
        LABEL_INSTANCE_TYPE: sku.name,
        "beta.kubernetes.io/instance-type": sku.name,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        nodeclaims.LABEL_AGENTPOOL: name,
        nodeclaims.LABEL_AKS_AGENTPOOL: name,
        LABEL_GPU_PRODUCT: sku.gpu.product,
        LABEL_GPU_COUNT: str(sku.gpu_count),
        LABEL_GPU_MEMORY: str(sku.gpu.memory_mib),
        LABEL_GPU_PRESENT: "true",
        LABEL_PROVISIONED_BY: PROVISIONED_BY_LOCAL,
        LABEL_LOCALCLUSTER_MANAGED: "true",
    }
    disk = nodeclaims.storage_gib(claim) or _DEFAULT_DISK_GI
    resources = {
        "cpu": str(_CPU_PER_GPU * sku.gpu_count),
        "memory": f"{_MEMORY_GI_PER_GPU * sku.gpu_count}Gi",
        "ephemeral-storage": f"{disk}Gi",
        "pods": "110",
        "nvidia.com/gpu": str(sku.gpu_count),
    }
    taints = [t.to_kube() for t in claim.spec.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {ANNOTATION_NODECLAIM: name, ANNOTATION_CREATED: stamp},
        },
        "spec": {"providerID": PROVIDER_ID_PREFIX + name, **({"taints": taints} if taints else {})},
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "simulated GPU node is ready",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "kaito simulated GPU node",
                "kubeletVersion": "v1.31.0",
                "kubeProxyVersion": "v1.31.0",
                "containerRuntimeVersion": "kaito-local://1",
                "kernelVersion": "",
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
            },
        },
    }


def _instance_of(node: Obj) -> Instance:
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    created = annotations.get(ANNOTATION_CREATED)
    return Instance(
        name=str(metadata.get("name")),
        instance_type=str(labels.get(LABEL_INSTANCE_TYPE, "")),
        state=InstanceState.DELETING if metadata.get("deletionTimestamp") else InstanceState.SUCCEEDED,
        nodeclaim=annotations.get(ANNOTATION_NODECLAIM),
        created_at=datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if created else None,
        provider_id=(node.get("spec") or {}).get("providerID"),
        labels=dict(labels),
    )


class LocalProvider:
    """Simulated GPU nodes in the cluster the operator talks to (the embedded one under `kaito local up`)."""

    name = "local"

    def __init__(self, client: KubeClient, *, delay_s: float = 2.0, poll_interval_s: float = 0.2) -> None:
        self.client = client
        self.delay_s = delay_s
        self.poll_interval_s = poll_interval_s

    async def _get_node(self, name: str) -> JSON | None:
        try:
            return await self.client.get(NODES, name)
        except NotFoundError:
            return None

    async def create(self, nodeclaim: NodeClaim) -> Instance:
        name = nodeclaim.metadata.name
        instance_type = nodeclaims.instance_type(nodeclaim)
        try:
            sku = get_sku(instance_type)
        except UnknownSkuError as exc:
            raise InvalidNodeClaimError("UnknownInstanceType", exc.message) from exc
        existing = await self._get_node(name)
        if existing is not None:
            return _instance_of(existing)
        await asyncio.sleep(self.delay_s)  # stands in for VM boot + kubelet registration
        node = simulated_node(nodeclaim, sku)
        log.info("registering simulated GPU node", node=name, sku=sku.name, gpus=sku.gpu_count)
        try:
            created = await self.client.create(NODES, node)
        except Exception as exc:
            if not is_already_exists(exc):
                raise
            created = await self.client.get(NODES, name)
        else:
            # API servers may drop status on create; kubelets then report it through /status.
            if (created.get("status") or {}).get("allocatable") != node["status"]["allocatable"]:
                created["status"] = node["status"]
                created = await self.client.update_status(NODES, created)
        return _instance_of(created)

    async def get(self, name: str) -> Instance | None:
        node = await self._get_node(name)
        if node is None or (node.get("metadata") or {}).get("labels", {}).get(LABEL_PROVISIONED_BY) is None:
            return None
        return _instance_of(node)

    async def delete(self, name: str) -> None:
        node = await self._get_node(name)
        if node is None or (node.get("metadata") or {}).get("labels", {}).get(LABEL_PROVISIONED_BY) is None:
            return
        try:
            await self.client.delete(NODES, name)
        except NotFoundError:
            return
        while True:
            if await self._get_node(name) is None:
                return
            await asyncio.sleep(self.poll_interval_s)

    async def list(self) -> list[Instance]:
        result: dict[str, Any] = await self.client.list(
            NODES, label_selector=f"{LABEL_PROVISIONED_BY}={PROVISIONED_BY_LOCAL}"
        )
        return [_instance_of(node) for node in result.get("items") or []]

    async def close(self) -> None:
        return None
