"""Simulated node facts: a `NodeSpec` the caller fills and the Node object a kubelet would register for it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kaito.localcluster.builtins.names import MANAGED_LABEL

GPU_RESOURCE = "nvidia.com/gpu"
PROVIDER_PREFIX = "kaito-local://"


class Taint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NodeSpec(BaseModel):
    """What a simulated node looks like: its size, its GPUs, its labels and taints."""

    model_config = ConfigDict(extra="forbid")

    name: str
    instance_type: str = "local"
    gpu_count: int = Field(default=0, ge=0)
    gpu_product: str = ""
    gpu_memory_mib: int = Field(default=0, ge=0, description="memory per GPU")
    cpu: str = "8"
    memory: str = "32Gi"
    ephemeral_storage: str = "100Gi"
    pods: int = 110
    arch: str = "amd64"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    provider_id: str | None = None

    def node_labels(self) -> dict[str, str]:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": self.arch,
            "node.kubernetes.io/instance-type": self.instance_type,
            "beta.kubernetes.io/instance-type": self.instance_type,
            MANAGED_LABEL: "true",
        }
        if self.gpu_count:
            labels |= {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": str(self.gpu_count),
                "nvidia.com/gpu.product": self.gpu_product.replace(" ", "-"),
                "nvidia.com/gpu.memory": str(self.gpu_memory_mib),
            }
        return labels | self.labels

    def capacity(self) -> dict[str, str]:
        capacity = {
            "cpu": self.cpu,
            "memory": self.memory,
            "ephemeral-storage": self.ephemeral_storage,
            "pods": str(self.pods),
        }
        if self.gpu_count:
            capacity[GPU_RESOURCE] = str(self.gpu_count)
        return capacity


def node_manifest(spec: NodeSpec) -> dict[str, Any]:
    """The Node object registered for `spec` (status included; the simulator also writes it via /status)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": spec.node_labels(), "annotations": dict(spec.annotations)},
        "spec": {
            "providerID": spec.provider_id or f"{PROVIDER_PREFIX}{spec.name}",
            "taints": [taint.model_dump() for taint in spec.taints],
        },
        "status": node_status(spec.capacity(), ready=True),
    }


def capacity_from_labels(labels: dict[str, str]) -> dict[str, str]:
    """Capacity for a managed node registered by someone else (e.g. a node provisioner) without status."""
    capacity = NodeSpec(name="x").capacity()
    gpus = labels.get("nvidia.com/gpu.count")
    if gpus and gpus.isdigit() and int(gpus) > 0:
        capacity[GPU_RESOURCE] = gpus
    return capacity


def node_status(capacity: dict[str, str], *, ready: bool, now: datetime | None = None) -> dict[str, Any]:
    stamp = _timestamp(now)
    return {
        "capacity": dict(capacity),
        "allocatable": dict(capacity),
        "conditions": [
            _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", stamp),
            _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", stamp),
            _condition("PIDPressure", "False", "KubeletHasSufficientPID", stamp),
            _condition(
                "Ready",
                "True" if ready else "False",
                "KubeletReady" if ready else "KubeletNotReady",
                stamp,
                "kubelet is posting ready status" if ready else "kubelet stopped posting node status",
            ),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": "localhost"},
        ],
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": "",
            "containerRuntimeVersion": "kaito-local://0.1",
            "kernelVersion": "",
            "kubeProxyVersion": "",
            "kubeletVersion": "v1.31.0-kaito-local",
            "machineID": "",
            "operatingSystem": "linux",
            "osImage": "kaito local cluster",
            "systemUUID": "",
        },
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
    }


def _condition(kind: str, status: str, reason: str, stamp: str, message: str = "") -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message or reason,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def _timestamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
