"""Where Workspaces land: bring-your-own nodes (no NodeClaims) and a model spanning two nodes."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.api.runtime import parse_config
from kaito.controllers.resource import CONFIGMAPS, PODS, SERVICES, STATEFULSETS
from kaito.localcluster.builtins import NodeSpec, Taint
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import WORKSPACES

from .conftest import Cluster, eventually, is_true


def _workspace(ns: str, name: str, label: str, **resource: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": ns},
        "resource": {"labelSelector": {"matchLabels": {"apps": label}}, **resource},
        "inference": {"preset": {"name": resource.pop("preset", "phi-3-mini-4k-instruct")}},
    }


async def _ready(cluster: Cluster, ns: str, name: str, within: float = 40) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        ws = await cluster.workspace(ns, name)
        return ws if is_true(ws, "WorkspaceReady") else None

    return await eventually(probe, f"{ns}/{name} WorkspaceReady=True", within=within)


async def test_bring_your_own_nodes_need_no_nodeclaims(cluster: Cluster, operator: WorkspaceSetup) -> None:
    ns = await cluster.namespace()
    label = f"byo-{uuid.uuid4().hex[:6]}"
    nodes = [f"{label}-a", f"{label}-b"]
    for node in nodes:
        await cluster.add_node(
            NodeSpec(
                name=node,
                instance_type="Standard_NC24ads_A100_v4",
                gpu_count=1,
                gpu_product="NVIDIA-A100-80GB-PCIe",
                gpu_memory_mib=81920,
                labels={"apps": label},
                taints=[Taint(key="sku", value="gpu", effect="NoSchedule")],
            )
        )
    try:
        doc = _workspace(ns, "byo", label)
        doc["resource"]["preferredNodes"] = [nodes[1]]
        await cluster.kube.create(WORKSPACES, doc)
        ws = await _ready(cluster, ns, "byo")
        assert ws["status"]["workerNodes"] == [nodes[1]], "preferredNodes come first"
        assert await cluster.nodeclaims_of(ns, "byo") == []
        pods = (await cluster.kube.list(PODS, ns, label_selector="kaito.sh/workspace=byo"))["items"]
        assert [p["spec"]["nodeName"] for p in pods] == [nodes[1]]
    finally:
        for node in nodes:
            await cluster.remove_node(node)


async def test_model_spanning_two_nodes_runs_as_a_two_pod_statefulset(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    label = f"multi-{uuid.uuid4().hex[:6]}"
    doc = _workspace(ns, "falcon", label, instanceType="Standard_NC24ads_A100_v4", count=2)
    doc["inference"]["preset"]["name"] = "falcon-40b-instruct"
    await cluster.kube.create(WORKSPACES, doc)
    ws = await _ready(cluster, ns, "falcon")
    assert ws["status"]["targetNodeCount"] == 2
    assert len(await cluster.nodeclaims_of(ns, "falcon")) == 2
    sts = await cluster.kube.get(STATEFULSETS, "falcon", ns)
    assert sts["spec"]["replicas"] == 2
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    service = await cluster.kube.get(SERVICES, "falcon", ns)
    assert service["spec"]["selector"]["apps.kubernetes.io/pod-index"] == "0", "only the leader serves"
    pods = (await cluster.kube.list(PODS, ns, label_selector="kaito.sh/workspace=falcon"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(ws["status"]["workerNodes"])
    runtime = await cluster.kube.get(CONFIGMAPS, "falcon-runtime", ns)
    config = parse_config(runtime["data"]["config.yaml"])
    assert config.plan.pipeline_parallel_size == 2
    assert config.distributed.node_count == 2
    await cluster.kube.delete(WORKSPACES, "falcon", ns)
    await eventually(lambda: _gone(cluster, ns, "falcon"), "falcon deleted")


async def _gone(cluster: Cluster, ns: str, name: str) -> bool:
    return await cluster.workspace(ns, name) is None and not await cluster.nodeclaims_of(ns, name)


async def test_custom_pod_template_is_used_as_written(cluster: Cluster, operator: WorkspaceSetup) -> None:
    ns = await cluster.namespace()
    label = f"tpl-{uuid.uuid4().hex[:6]}"
    container = {
        "name": "custom",
        "image": "example.com/my-server:1",
        "args": ["--port", "8000"],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    doc = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "custom", "namespace": ns},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": label}}},
        "inference": {
            "template": {"metadata": {"labels": {"mine": "yes"}}, "spec": {"containers": [container]}}
        },
    }
    await cluster.kube.create(WORKSPACES, doc)
    await _ready(cluster, ns, "custom")
    template = (await cluster.kube.get(STATEFULSETS, "custom", ns))["spec"]["template"]
    assert template["metadata"]["labels"]["mine"] == "yes"
    assert template["metadata"]["labels"]["kaito.sh/workspace"] == "custom"
    got = template["spec"]["containers"][0]
    assert (got["image"], got["args"], got["resources"]) == (
        container["image"],
        container["args"],
        container["resources"],
    )
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in template["spec"][
        "tolerations"
    ]
    configmaps = await cluster.kube.list(CONFIGMAPS, ns, label_selector="kaito.sh/workspace=custom")
    assert not configmaps.get("items"), "a custom template gets no runtime config"
