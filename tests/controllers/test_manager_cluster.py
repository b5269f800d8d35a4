"""Manager and leader election against a cluster: one leader of two, failover, drain on stop, lost lease."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kaito.controllers.client import KubeClient
from kaito.controllers.controller import Controller, Request, Result
from kaito.controllers.errors import NotFoundError
from kaito.controllers.leaderelection import (
    KubeLeaseClient,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
)
from kaito.controllers.manager import Manager
from kaito.controllers.resource import CONFIGMAPS, LEASES
from kaito.controllers.settings import ManagerSettings

from .waiting import wait_until

FAST = {"lease_duration": 5.0, "renew_deadline": 3.5, "retry_period": 0.5}


class Recorded:
    """A ControllerSetup reconciling ConfigMaps of one namespace; "slow-*" names take a while."""

    name = "recorded"

    def __init__(self, namespace: str, slow_seconds: float = 1.0) -> None:
        self.namespace = namespace
        self.slow_seconds = slow_seconds
        self.started: list[str] = []
        self.finished: list[str] = []
        self.controller: Controller | None = None

    async def setup(self, manager: Manager) -> None:
        informer = manager.informers.informer_for(CONFIGMAPS, namespace=self.namespace)
        self.controller = Controller(self.name, self.reconcile, workers=2)
        self.controller.for_(informer)
        manager.add_controller(self.controller)

    async def reconcile(self, request: Request) -> Result:
        self.started.append(request.name)
        if request.name.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        self.finished.append(request.name)
        return Result()


def settings_for(kubeconfig: Path, namespace: str, identity: str, **overrides: Any) -> ManagerSettings:
    return ManagerSettings(
        kubeconfig=kubeconfig,
        lease_namespace=namespace,
        lease_name="runtime-test",
        identity=identity,
        bind_address="127.0.0.1:0",
        shutdown_timeout=10,
        **{**FAST, **overrides},
    )


async def lease_holder(kube: KubeClient, namespace: str, name: str = "runtime-test") -> str:
    try:
        lease = await kube.get(LEASES, name, namespace)
    except NotFoundError:
        return ""
    return str(lease["spec"].get("holderIdentity") or "")


async def test_sigterm_drains_in_flight_reconcile_and_releases_lease(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    setup = Recorded(namespace)
    manager = Manager(settings_for(kubeconfig, namespace, "solo"), [setup])
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    await asyncio.wait_for(manager.leading.wait(), 20)
    assert manager.health is not None
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{manager.health.port}"
        for path in ("/healthz", "/readyz"):
            async with http.get(base + path) as response:
                assert response.status == 200, path
        await kube.create(CONFIGMAPS, {"metadata": {"name": "slow-one"}}, namespace)
        await wait_until(lambda: "slow-one" in setup.started, 10)
        async with http.get(base + "/metrics") as response:
            text = await response.text()
    assert 'workqueue_adds_total{name="recorded"}' in text
    assert 'leader_election_master_status{name="runtime-test"} 1.0' in text
    assert threading.current_thread() is threading.main_thread()  # so run() installed its SIGTERM handler
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(run, 20) == 0
    assert "slow-one" in setup.finished, "the in-flight reconcile must finish before the manager exits"
    assert await lease_holder(kube, namespace) == ""


async def test_two_managers_one_leader_and_failover_after_release(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    first, second = Recorded(namespace), Recorded(namespace)
    # A lease long next to the retry period, so a handover by release (one retry) and one by expiry stay
    # far apart even on a loaded machine.
    timing = {"lease_duration": 10.0, "renew_deadline": 7.0}
    a = Manager(settings_for(kubeconfig, namespace, "replica-a", **timing), [first])
    b = Manager(settings_for(kubeconfig, namespace, "replica-b", **timing), [second])
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    await asyncio.wait_for(a.leading.wait(), 20)
    run_b = asyncio.create_task(b.run(stop_b))
    await wait_until(lambda: b.ready, 20)
    await kube.create(CONFIGMAPS, {"metadata": {"name": "seen-by-leader"}}, namespace)
    await wait_until(lambda: "seen-by-leader" in first.finished, 10)
    await asyncio.sleep(FAST["lease_duration"])  # a follower that ignored the live lease would have moved
    assert not b.leading.is_set()
    assert second.started == []
    assert await lease_holder(kube, namespace) == "replica-a"
    stop_a.set()
    assert await asyncio.wait_for(run_a, 20) == 0
    handover = time.monotonic()
    await asyncio.wait_for(b.leading.wait(), 10)
    assert time.monotonic() - handover < timing["lease_duration"]  # released: no wait for expiry
    await wait_until(lambda: "seen-by-leader" in second.finished, 10)  # the new leader reconciles everything
    stop_b.set()
    assert await asyncio.wait_for(run_b, 20) == 0


async def test_losing_the_lease_stops_reconciling_and_exits_non_zero(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    setup = Recorded(namespace, slow_seconds=30)
    manager = Manager(settings_for(kubeconfig, namespace, "doomed"), [setup])
    run = asyncio.create_task(manager.run())
    await asyncio.wait_for(manager.leading.wait(), 20)
    await kube.create(CONFIGMAPS, {"metadata": {"name": "slow-forever"}}, namespace)
    await wait_until(lambda: "slow-forever" in setup.started, 10)
    lease = await kube.get(LEASES, "runtime-test", namespace)
    lease["spec"]["holderIdentity"] = "usurper"  # another replica took over (e.g. after a partition)
    await kube.update(LEASES, lease)
    assert await asyncio.wait_for(run, 15) == 1
    assert "slow-forever" not in setup.finished  # cancelled at once, not drained
    assert await lease_holder(kube, namespace) == "usurper"


async def elector(kube: KubeClient, namespace: str, identity: str, **timing: float) -> LeaderElector:
    config = LeaderElectionConfig(identity=identity, **timing)
    return LeaderElector(KubeLeaseClient(kube, namespace, "failover"), config)


@pytest.mark.slow
async def test_killed_leader_fails_over_within_17s_with_default_timing(
    kube: KubeClient, namespace: str
) -> None:
    leader = await elector(kube, namespace, "leader")
    follower = await elector(kube, namespace, "follower")
    await asyncio.wait_for(leader.acquire(), 10)
    holding = asyncio.create_task(leader.hold())
    following = asyncio.create_task(follower.acquire())
    await asyncio.sleep(3.3)
    assert not following.done()
    holding.cancel()  # killed: no release, the lease has to expire
    with contextlib.suppress(asyncio.CancelledError, LeadershipLost):
        await holding
    killed = time.monotonic()
    await asyncio.wait_for(following, 25)
    failover = time.monotonic() - killed
    assert failover <= 17.0, f"failover took {failover:.1f}s"
    assert await lease_holder(kube, namespace, "failover") == "follower"
    lease = await kube.get(LEASES, "failover", namespace)
    assert lease["spec"]["leaseTransitions"] == 1
    assert lease["spec"]["leaseDurationSeconds"] == 15
    assert await follower.release()
