"""A pass over a Workspace whose world did not change writes nothing, and its status only on change."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.controllers.client import KubeClient
from kaito.controllers.objects import ObjectKey
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import WORKSPACES
from kaito.reconcilers.workloads import Children

from .conftest import Cluster, eventually, is_true, load_example


class CountingClient(KubeClient):
    """A KubeClient that records every request that is not a read."""

    writes: list[tuple[str, str]]
    bodies: list[Any]

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET":
            self.writes.append((method, path))
            self.bodies.append(kwargs.get("body"))
        return await super().call(method, path, **kwargs)


async def test_reconciling_a_settled_workspace_twice_writes_nothing(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    doc = load_example("inference/kaito_workspace_phi_3_with_adapters.yaml", ns, f"id-{uuid.uuid4().hex[:6]}")
    name = doc["metadata"]["name"]
    await cluster.kube.create(WORKSPACES, doc)

    async def ready() -> dict[str, Any] | None:
        ws = await cluster.workspace(ns, name)
        return ws if is_true(ws, "WorkspaceReady") else None

    await eventually(ready, "WorkspaceReady", within=40)
    reconciler = operator.reconciler
    assert reconciler is not None
    counting = CountingClient(reconciler.client.api_client)
    counting.writes = []
    counting.bodies = []
    reconciler.client = counting
    reconciler.children = Children(counting, reconciler.caches, reconciler.settings, reconciler._event)
    key = ObjectKey(ns, name)

    async def cache_settled() -> bool:
        # The cache must hold our own last status write before a pass can be judged.
        cached = reconciler.caches.workspaces.store.get(key)
        live = await cluster.workspace(ns, name)
        return (
            cached is not None
            and live is not None
            and cached["metadata"]["resourceVersion"] == (live["metadata"]["resourceVersion"])
        )

    await eventually(cache_settled, "the informer to catch up")
    # The first pass may still catch up with a change the running controller has not handled yet (one
    # status write at most); the second, with nothing changed in between, must write nothing.
    await reconciler.reconcile(key)
    assert len(counting.writes) <= 1
    assert all(path.endswith("/status") for _, path in counting.writes)
    await eventually(cache_settled, "the informer to see that write")
    counting.writes.clear()
    counting.bodies.clear()
    await reconciler.reconcile(key)
    assert counting.writes == [], counting.bodies
