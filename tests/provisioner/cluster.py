"""Cluster-side helpers for provisioner tests: the NodeClaim CRD, AKS-like Nodes, a running provisioner."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.manager import Manager
from kaito.controllers.resource import CRDS, NODES
from kaito.controllers.settings import ManagerSettings
from kaito.provisioner.cloud import CloudProvider
from kaito.provisioner.reconciler import NODECLAIMS
from kaito.provisioner.settings import ProvisionerSettings
from kaito.provisioner.setup import ProvisionerSetup

from .arm_emulator import ArmEmulator, PoolHook

REPO = Path(__file__).resolve().parents[2]
NODECLAIM_CRD = REPO / "config" / "crd" / "karpenter.sh_nodeclaims.yaml"
LOCALCLUSTER_MANAGED = "localcluster.kaito.sh/managed"


def unique_name(prefix: str = "t") -> str:
    """A fresh agent-pool-valid name (NodeClaims are cluster-scoped and outlive one test)."""
    return f"{prefix}{uuid.uuid4().hex[: 11 - len(prefix)]}"


async def install_nodeclaim_crd(kube: KubeClient) -> None:
    crd = yaml.safe_load(NODECLAIM_CRD.read_text())
    with contextlib.suppress(ConflictError):
        await kube.create(CRDS, crd)
    async with asyncio.timeout(30):
        while True:
            try:
                await kube.list(NODECLAIMS, limit=1)
                return
            except NotFoundError:
                await asyncio.sleep(0.1)


def nodeclaim_body(name: str, *, sku: str = "Standard_NC6s_v3", storage: str = "120Gi") -> JSON:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {
                "kaito.sh/workspace": "workspace-phi-3-mini",
                "kaito.sh/workspacenamespace": "default",
                "apps": "phi-3",
            },
        },
        "spec": {
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [sku]}],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": storage}},
            "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"},
        },
    }


def _taint(text: str) -> JSON:
    key_value, effect = text.rsplit(":", 1)
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


def aks_node(pool: dict[str, Any], subscription: str) -> JSON:
    """The Node AKS would register for a one-VM agent pool (a V100 GPU, device plugin running)."""
    name = pool["name"]
    props = pool["properties"]
    node_name = f"aks-{name}-12345678-vmss000000"
    labels = dict(props.get("nodeLabels") or {}) | {
        "agentpool": name,
        "kubernetes.azure.com/agentpool": name,
        "node.kubernetes.io/instance-type": props["vmSize"],
        "kubernetes.io/hostname": node_name,
        LOCALCLUSTER_MANAGED: "true",
    }
    resources = {"cpu": "6", "memory": "112Gi", "nvidia.com/gpu": "1", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node_name, "labels": labels},
        "spec": {
            "providerID": (
                f"azure:///subscriptions/{subscription}/resourceGroups/mc_kaito/providers/Microsoft.Compute/"
                f"virtualMachineScaleSets/aks-{name}-12345678-vmss/virtualMachines/0"
            ),
            "taints": [_taint(t) for t in props.get("nodeTaints") or []],
        },
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
        },
    }


def node_hooks(kube: KubeClient, arm: ArmEmulator) -> tuple[PoolHook, PoolHook]:
    """Emulator hooks: a succeeded pool registers its Node in the cluster, a deleted pool removes it."""

    async def registered(pool: dict[str, Any]) -> None:
        node = aks_node(pool, arm.subscription_id)
        try:
            created = await kube.create(NODES, node)
        except ConflictError:
            return
        created["status"] = node["status"]
        await kube.update_status(NODES, created)

    async def removed(pool: dict[str, Any]) -> None:
        with contextlib.suppress(NotFoundError):
            await kube.delete(NODES, f"aks-{pool['name']}-12345678-vmss000000")

    return registered, removed


@contextlib.asynccontextmanager
async def running_provisioner(
    kubeconfig: Path, settings: ProvisionerSettings, provider: CloudProvider | None = None
) -> AsyncIterator[ProvisionerSetup]:
    """A Manager running only the provisioner (no leader election), stopped and closed on exit."""
    setup = ProvisionerSetup(settings, provider)
    manager = Manager(
        ManagerSettings(
            kubeconfig=kubeconfig, leader_elect=False, bind_address="127.0.0.1:0", shutdown_timeout=5
        ),
        [setup],
    )
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    try:
        async with asyncio.timeout(30):
            while not manager.leading.is_set():
                if run.done():
                    raise RuntimeError(f"manager exited early with {run.result()}")
                await asyncio.sleep(0.02)
        yield setup
    finally:
        stop.set()
        await run
        await setup.close()
