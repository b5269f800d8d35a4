"""Operator kills at random points while Workspaces are created and deleted: no duplicate, no orphan claim.

100 creates (and 25 deletes) with 20 kills, a kill being the abrupt cancellation of the running manager
task followed by a fresh manager. Only the workspace controller runs (no provisioner): the property is
about the NodeClaims it writes, and unlaunched claims keep the test fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from typing import Any

from kaito.controllers.manager import Manager
from kaito.controllers.settings import ManagerSettings
from kaito.reconcilers import WorkspaceSetup
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES, nodeclaim_name

from .conftest import Cluster, eventually

CREATES = 100
DELETES = 25
KILLS = 20


def _manager(cluster: Cluster) -> Manager:
    return Manager(
        ManagerSettings(
            kubeconfig=cluster.kubeconfig, leader_elect=False, bind_address="127.0.0.1:0", shutdown_timeout=1
        ),
        [WorkspaceSetup()],
    )


def _workspace(ns: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": f"ws-{index:03d}", "namespace": ns},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"chaos": ns}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


async def test_kills_during_creates_leave_no_duplicate_or_orphan_nodeclaims(cluster: Cluster) -> None:
    ns = await cluster.namespace()
    rng = random.Random(7)
    done = asyncio.Event()

    async def chaos() -> int:
        kills = 0
        run = asyncio.create_task(_manager(cluster).run(asyncio.Event()))
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(0.05, 0.5))
            run.cancel()  # abrupt: whatever reconcile is in flight stops mid-way
            with contextlib.suppress(asyncio.CancelledError):
                await run
            kills += 1
            run = asyncio.create_task(_manager(cluster).run(asyncio.Event()))
        await done.wait()
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        return kills

    async def workload() -> None:
        doomed = set(rng.sample(range(CREATES), DELETES))
        for index in range(CREATES):
            await cluster.kube.create(WORKSPACES, _workspace(ns, index))
            if index in doomed and index % 2 == 0:
                await cluster.kube.delete(WORKSPACES, f"ws-{index:03d}", ns)
            await asyncio.sleep(rng.uniform(0, 0.03))
        for index in sorted(doomed):
            if index % 2:
                await cluster.kube.delete(WORKSPACES, f"ws-{index:03d}", ns)
        done.set()

    kills, _ = await asyncio.gather(chaos(), workload())
    assert kills == KILLS

    stop = asyncio.Event()
    final = asyncio.create_task(_manager(cluster).run(stop))
    try:

        async def converged() -> tuple[list[str], list[dict[str, Any]]] | None:
            workspaces = (await cluster.kube.list(WORKSPACES, ns))["items"]
            claims = (
                await cluster.kube.list(NODECLAIMS, label_selector=f"kaito.sh/workspacenamespace={ns}")
            )["items"]
            names = sorted(w["metadata"]["name"] for w in workspaces)
            if len(names) == CREATES - DELETES and len(claims) == len(names):
                return names, claims
            return None

        names, claims = await eventually(
            converged, "every Workspace to hold exactly its NodeClaim", within=40
        )
    finally:
        stop.set()
        await final
    per_workspace = Counter(c["metadata"]["labels"]["kaito.sh/workspace"] for c in claims)
    duplicates = {name: n for name, n in per_workspace.items() if n > 1}
    orphans = sorted(set(per_workspace) - set(names))
    assert duplicates == {}
    assert orphans == []
    assert sorted(c["metadata"]["name"] for c in claims) == sorted(nodeclaim_name(ns, n, 0) for n in names)
