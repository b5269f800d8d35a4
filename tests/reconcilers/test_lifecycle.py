"""Full lifecycle of the seed inference example on simulated GPU nodes: provision, serve, delete."""

from __future__ import annotations

import uuid

import yaml

from kaito.api.adapters import DesiredAdapters
from kaito.api.constants import FINALIZER
from kaito.api.runtime import parse_config
from kaito.controllers.errors import NotFoundError
from kaito.controllers.resource import CONFIGMAPS, NODES, PODS, SERVICES, STATEFULSETS, Resource
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import ANNOTATION_REVISION, WORKSPACES, nodeclaim_name

from .conftest import Cluster, eventually, is_true, load_example

WORKSPACES_V1ALPHA1 = Resource("kaito.sh", "v1alpha1", "workspaces", "Workspace")


async def test_phi3_example_provisions_serves_and_cleans_up(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    label = f"phi-{uuid.uuid4().hex[:6]}"
    doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, label)
    name = doc["metadata"]["name"]
    await cluster.kube.create(WORKSPACES_V1ALPHA1, doc)

    async def ready() -> dict | None:  # type: ignore[type-arg]
        ws = await cluster.workspace(ns, name)
        return ws if is_true(ws, "WorkspaceReady") else None

    ws = await eventually(ready, "WorkspaceReady=True", within=40)
    status = ws["status"]
    for type_ in ("ResourceReady", "InferenceReady", "WorkspaceReady"):
        assert is_true(ws, type_), type_
    assert status["targetNodeCount"] == 1
    assert status["state"] == "Ready"
    assert status["replicas"] == 1
    assert status["selector"] == f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={ns}"
    assert FINALIZER in ws["metadata"]["finalizers"]
    assert ws["metadata"]["annotations"][ANNOTATION_REVISION]

    claims = await cluster.nodeclaims_of(ns, name)
    assert [c["metadata"]["name"] for c in claims] == [nodeclaim_name(ns, name, 0)]
    claim = claims[0]
    assert claim["metadata"]["labels"]["apps"] == label
    assert claim["spec"]["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert claim["spec"]["requirements"] == [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC6s_v3"]}
    ]
    assert claim["spec"]["resources"]["requests"]["storage"] == "40Gi"
    assert status["workerNodes"] == [claim["status"]["nodeName"]]

    service = await cluster.kube.get(SERVICES, name, ns)
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"], p["name"]) for p in service["spec"]["ports"]] == [
        (80, 5000, "http"),
        (29500, 29500, "torchrun"),
    ]
    headless = await cluster.kube.get(SERVICES, f"{name}-headless", ns)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True

    sts = await cluster.kube.get(STATEFULSETS, name, ns)
    assert sts["spec"]["replicas"] == 1
    assert sts["metadata"]["ownerReferences"][0]["kind"] == "Workspace"
    pod_spec = sts["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["command"] == ["kaito", "serve", "--config", "/etc/kaito/runtime/config.yaml"]
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in pod_spec[
        "tolerations"
    ]
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": 5000}

    pods = (await cluster.kube.list(PODS, ns, label_selector=f"kaito.sh/workspace={name}"))["items"]
    assert [p["spec"]["nodeName"] for p in pods] == status["workerNodes"]

    runtime = await cluster.kube.get(CONFIGMAPS, f"{name}-runtime", ns)
    config = parse_config(runtime["data"]["config.yaml"])
    assert config.model.name == "phi-3-mini-4k-instruct"
    assert config.plan.tensor_parallel_size == 1
    assert config.plan.dtype == "float16"  # V100: no bfloat16
    adapters = await cluster.kube.get(CONFIGMAPS, f"{name}-adapters", ns)
    assert DesiredAdapters.model_validate(yaml.safe_load(adapters["data"]["adapters.yaml"])).adapters == []

    node_name = status["workerNodes"][0]
    await cluster.kube.delete(WORKSPACES, name, ns)

    async def gone() -> bool:
        return await cluster.workspace(ns, name) is None and not await cluster.nodeclaims_of(ns, name)

    await eventually(gone, "the Workspace and its NodeClaims to be deleted", within=30)

    async def node_gone() -> bool:
        try:
            await cluster.kube.get(NODES, node_name)
        except NotFoundError:
            return True
        return False

    await eventually(node_gone, "the provisioned node to be deleted", within=30)
