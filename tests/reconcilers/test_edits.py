"""Spec edits: adapter-only edits reach the adapters ConfigMap without touching the pods; others roll out."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from kaito.api.adapters import DesiredAdapters
from kaito.api.runtime import parse_config
from kaito.controllers.resource import CONFIGMAPS, PODS, STATEFULSETS
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import ANNOTATION_REVISION, WORKSPACES

from .conftest import Cluster, eventually, is_true, load_example

NAME = "workspace-phi-3-mini-adapter"


async def _pod_uids(cluster: Cluster, ns: str) -> list[str]:
    pods = (await cluster.kube.list(PODS, ns, label_selector=f"kaito.sh/workspace={NAME}"))["items"]
    return sorted(p["metadata"]["uid"] for p in pods)


async def test_adapter_edits_hot_load_and_other_edits_roll_out(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    doc = load_example("inference/kaito_workspace_phi_3_with_adapters.yaml", ns, f"ad-{uuid.uuid4().hex[:6]}")
    await cluster.kube.create(WORKSPACES, doc)

    async def ready() -> dict[str, Any] | None:
        ws = await cluster.workspace(ns, NAME)
        return ws if is_true(ws, "WorkspaceReady") else None

    ws = await eventually(ready, "WorkspaceReady", within=40)
    revision = ws["metadata"]["annotations"][ANNOTATION_REVISION]
    sts = await cluster.kube.get(STATEFULSETS, NAME, ns)
    pods = await _pod_uids(cluster, ns)
    desired = await cluster.kube.get(CONFIGMAPS, f"{NAME}-adapters", ns)
    parsed = DesiredAdapters.model_validate(yaml.safe_load(desired["data"]["adapters.yaml"]))
    assert [(a.name, a.image, a.strength) for a in parsed.adapters] == [
        ("phi-3-adapter", "myregistry.azurecr.io/adapters/phi-3-adapter:0.0.1", "1.0")
    ]
    runtime = parse_config((await cluster.kube.get(CONFIGMAPS, f"{NAME}-runtime", ns))["data"]["config.yaml"])
    assert runtime.adapters.enabled

    adapters = [
        {"source": {"name": "phi-3-adapter", "image": "myregistry.azurecr.io/adapters/phi-3-adapter:0.0.1"},
         "strength": "0.5"},
        {"source": {"name": "second", "image": "myregistry.azurecr.io/adapters/second:1"}},
    ]  # fmt: skip
    await cluster.kube.patch(WORKSPACES, NAME, {"inference": {"adapters": adapters}}, namespace=ns)

    async def adapters_updated() -> DesiredAdapters | None:
        cm = await cluster.kube.get(CONFIGMAPS, f"{NAME}-adapters", ns)
        found = DesiredAdapters.model_validate(yaml.safe_load(cm["data"]["adapters.yaml"]))
        return found if len(found.adapters) == 2 else None

    updated = await eventually(adapters_updated, "the adapters ConfigMap to list both adapters")
    assert [(a.name, a.strength) for a in updated.adapters] == [("phi-3-adapter", "0.5"), ("second", "1.0")]
    ws = await eventually(
        lambda: _revision_changed(cluster, ns, revision), "the revision annotation to follow the edit"
    )
    after = await cluster.kube.get(STATEFULSETS, NAME, ns)
    assert after["metadata"]["generation"] == sts["metadata"]["generation"], (
        "adapter edits must not roll pods"
    )
    assert after["spec"]["template"] == sts["spec"]["template"]
    assert await _pod_uids(cluster, ns) == pods

    await cluster.kube.create(
        CONFIGMAPS,
        {"metadata": {"name": "tuned", "namespace": ns},
         "data": {"inference_config.yaml": "vllm:\n  max-num-seqs: 64\n"}},
    )  # fmt: skip
    await cluster.kube.patch(WORKSPACES, NAME, {"inference": {"config": "tuned"}}, namespace=ns)

    async def rolled() -> bool:
        current = await cluster.kube.get(STATEFULSETS, NAME, ns)
        return bool(current["metadata"]["generation"] > sts["metadata"]["generation"])

    await eventually(rolled, "the StatefulSet template to change")
    runtime = parse_config((await cluster.kube.get(CONFIGMAPS, f"{NAME}-runtime", ns))["data"]["config.yaml"])
    assert runtime.vllm == {"max-num-seqs": 64}

    async def new_pods_ready() -> bool:
        uids = await _pod_uids(cluster, ns)
        return bool(uids) and uids != pods and is_true(await cluster.workspace(ns, NAME), "WorkspaceReady")

    await eventually(new_pods_ready, "the rolled pod to be ready", within=40)


async def _revision_changed(cluster: Cluster, ns: str, old: str) -> dict[str, Any] | None:
    ws = await cluster.workspace(ns, NAME)
    return ws if ws and ws["metadata"]["annotations"].get(ANNOTATION_REVISION) != old else None
