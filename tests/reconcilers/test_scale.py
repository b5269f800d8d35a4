"""The scale subresource: `spec.replicas` model replicas become NodeClaims, pods and `status.replicas`."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.controllers.resource import STATEFULSETS
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import WORKSPACES

from .conftest import Cluster, eventually, load_example


async def test_scaling_through_the_scale_subresource_adds_nodes_and_pods(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, f"sc-{uuid.uuid4().hex[:6]}")
    name = doc["metadata"]["name"]
    await cluster.kube.create(WORKSPACES, doc)

    async def replicas(count: int) -> dict[str, Any] | None:
        ws = await cluster.workspace(ns, name)
        return ws if ws and (ws.get("status") or {}).get("replicas") == count else None

    await eventually(lambda: replicas(1), "one ready replica", within=40)
    scale = await cluster.kube.patch(
        WORKSPACES, name, {"spec": {"replicas": 2}}, namespace=ns, subresource="scale"
    )
    assert scale["spec"]["replicas"] == 2
    ws = await eventually(lambda: replicas(2), "two ready replicas", within=40)
    assert ws["status"]["targetNodeCount"] == 2
    assert len(ws["status"]["workerNodes"]) == 2
    assert len(await cluster.nodeclaims_of(ns, name)) == 2
    sts = await cluster.kube.get(STATEFULSETS, name, ns)
    assert sts["spec"]["replicas"] == 2
    read = await cluster.kube.call("GET", WORKSPACES.path(ns, name, "scale"))
    again = await cluster.workspace(ns, name)
    assert read["status"]["replicas"] == 2, (read, again["status"] if again else None)
    assert read["status"]["selector"] == ws["status"]["selector"]
