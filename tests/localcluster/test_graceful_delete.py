"""Graceful pod deletion: Terminating, SIGTERM then SIGKILL after the grace, forced and shortened deletes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from localcluster.conftest import BuiltinsCluster

KUBECTL = Path(sys.executable).parent / "kubectl"

# Installs a SIGTERM handler (writing `term` after a short clean-up), then announces itself as started.
TRAPPING = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
def on_term(*_):
    time.sleep(1.0)
    marker.write_text('term')
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
pathlib.Path(sys.argv[2]).write_text(str(__import__('os').getpid()))
while True:
    time.sleep(0.1)
"""
IGNORING = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).write_text(str(__import__('os').getpid()))
while True:
    time.sleep(0.1)
"""


def python_pod(name: str, script: str, args: list[str], grace: int) -> dict[str, Any]:
    container = {"name": "main", "image": "local/python", "args": ["-c", script, *args]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": grace},
    }


async def kubectl(cluster: BuiltinsCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(cluster.threaded.kubeconfig_path))
    return await asyncio.to_thread(
        subprocess.run, [str(KUBECTL), *args], capture_output=True, text=True, env=env, timeout=60
    )


def alive(pid: int) -> bool:
    """Running (not a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def started_pid(cluster: BuiltinsCluster, started: Path) -> int:
    async def written() -> int | None:
        text = await asyncio.to_thread(lambda: started.read_text() if started.exists() else "")
        return int(text) if text else None

    return await cluster.eventually(written, "the container process started", within=60)


async def start_ignoring_pod(
    cluster: BuiltinsCluster, tmp_path: Path, name: str, grace: int
) -> tuple[str, int]:
    """A pod whose process ignores SIGTERM, in a fresh namespace: (namespace, pid) once it runs."""
    ns = await cluster.namespace()
    started = tmp_path / "started"
    await cluster.core.create_namespaced_pod(ns, python_pod(name, IGNORING, [str(started)], grace=grace))
    return ns, await started_pid(cluster, started)


async def read_pod(cluster: BuiltinsCluster, ns: str, name: str) -> Any | None:
    try:
        return await cluster.core.read_namespaced_pod(name, ns)
    except k8s.ApiException as error:
        if error.status == 404:
            return None
        raise


async def wait_gone(cluster: BuiltinsCluster, ns: str, name: str, within: float = 30.0) -> None:
    async def gone() -> bool:
        return await read_pod(cluster, ns, name) is None

    await cluster.eventually(gone, f"pod {name} removed", within=within)


async def test_kubectl_delete_shows_terminating_and_the_process_gets_sigterm(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    marker, started = tmp_path / "term", tmp_path / "started"
    await cluster.core.create_namespaced_pod(
        ns, python_pod("trap", TRAPPING, [str(marker), str(started)], grace=30)
    )
    pid = await started_pid(cluster, started)
    deleted = await kubectl(cluster, "delete", "pod", "trap", "-n", ns, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    got = await kubectl(cluster, "get", "pod", "trap", "-n", ns, "--no-headers")
    assert got.returncode == 0, got.stderr
    assert "Terminating" in got.stdout, got.stdout
    pod = await read_pod(cluster, ns, "trap")
    assert pod is not None
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 30
    waited = await kubectl(cluster, "wait", "--for=delete", "pod/trap", "-n", ns, "--timeout=25s")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert marker.read_text() == "term"  # the handler ran: SIGTERM, not SIGKILL
    assert not alive(pid)


async def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    started = tmp_path / "started"
    body = python_pod("stubborn", IGNORING, [str(started)], grace=2)
    body["metadata"]["finalizers"] = ["example.com/hold"]  # keeps the final status readable
    await cluster.core.create_namespaced_pod(ns, body)
    pid = await started_pid(cluster, started)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await cluster.core.delete_namespaced_pod("stubborn", ns)

    async def killed() -> bool:
        return not alive(pid)

    await cluster.eventually(killed, "the process SIGKILLed", within=20)
    assert loop.time() - began >= 1.0  # it outlived SIGTERM for (about) the grace period

    async def reported() -> Any | None:
        pod = await read_pod(cluster, ns, "stubborn")
        if pod is None or pod.metadata.deletion_grace_period_seconds != 0:
            return None
        statuses = pod.status.container_statuses or []
        return pod if statuses and statuses[0].state.terminated is not None else None

    pod = await cluster.eventually(reported, "terminated status, pod held by its finalizer")
    assert pod.status.container_statuses[0].state.terminated.exit_code == 137
    await cluster.core.patch_namespaced_pod("stubborn", ns, {"metadata": {"finalizers": None}})
    await wait_gone(cluster, ns, "stubborn", within=10)


async def test_force_delete_with_grace_zero_removes_at_once(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns, pid = await start_ignoring_pod(cluster, tmp_path, "forced", grace=60)
    deleted = await kubectl(cluster, "delete", "pod", "forced", "-n", ns, "--grace-period=0", "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert await read_pod(cluster, ns, "forced") is None

    async def killed() -> bool:
        return not alive(pid)

    await cluster.eventually(killed, "the force-deleted pod's process stopped", within=20)


async def test_a_second_delete_may_only_shorten_the_grace(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns, pid = await start_ignoring_pod(cluster, tmp_path, "slow", grace=60)
    await cluster.core.delete_namespaced_pod("slow", ns)
    first = await read_pod(cluster, ns, "slow")
    assert first is not None
    assert first.metadata.deletion_grace_period_seconds == 60
    await cluster.core.delete_namespaced_pod("slow", ns, grace_period_seconds=120)
    longer = await read_pod(cluster, ns, "slow")
    assert longer is not None
    assert longer.metadata.deletion_grace_period_seconds == 60
    assert longer.metadata.deletion_timestamp == first.metadata.deletion_timestamp
    assert alive(pid)
    await cluster.core.delete_namespaced_pod("slow", ns, grace_period_seconds=1)
    shorter = await read_pod(cluster, ns, "slow")
    if shorter is not None:  # the kubelet may already have finished it
        assert shorter.metadata.deletion_grace_period_seconds in (0, 1)
        assert shorter.metadata.deletion_timestamp < first.metadata.deletion_timestamp
    await wait_gone(cluster, ns, "slow", within=20)
    assert not alive(pid)


@pytest.mark.parametrize("node_name", [None, "no-kubelet-here"])
async def test_a_pod_no_kubelet_runs_is_removed_at_once(
    builtins_cluster: BuiltinsCluster, node_name: str | None
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "example.com/app:1"}]}
    if node_name is None:
        spec["schedulerName"] = "nobody"  # stays unbound
    else:
        spec["nodeName"] = node_name  # a node no runner serves
    await cluster.core.create_namespaced_pod(ns, {"metadata": {"name": "idle"}, "spec": spec})
    await cluster.core.delete_namespaced_pod("idle", ns)
    assert await read_pod(cluster, ns, "idle") is None


async def test_a_simulated_pod_goes_away_promptly(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    spec = {"containers": [{"name": "c", "image": "example.com/app:1"}]}
    await cluster.core.create_namespaced_pod(ns, {"metadata": {"name": "sim"}, "spec": spec})

    async def running() -> bool:
        pod = await read_pod(cluster, ns, "sim")
        return pod is not None and pod.status.phase == "Running"

    await cluster.eventually(running, "simulated pod Running")
    await cluster.core.delete_namespaced_pod("sim", ns)
    pod = await read_pod(cluster, ns, "sim")
    assert pod is None or pod.metadata.deletion_grace_period_seconds == 30
    await wait_gone(cluster, ns, "sim", within=10)


def _workload(kind: str, name: str, script: str, grace: int) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "main", "image": "local/python", "args": ["-c", script]}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": grace},
    }
    spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


# Exits 1.5 s after SIGTERM, so the pod stays Terminating for a while.
SLOW_EXIT = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.5), sys.exit(0)))
while True:
    time.sleep(0.1)
"""


async def _running_pods(cluster: BuiltinsCluster, ns: str, app: str) -> list[Any]:
    listed = await cluster.core.list_namespaced_pod(ns, label_selector=f"app={app}")
    return [p for p in listed.items if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


async def _the_running_pod(cluster: BuiltinsCluster, ns: str, app: str) -> Any:
    """The one Running, not terminating pod of ``app``, or None."""
    pods = await _running_pods(cluster, ns, app)
    return pods[0] if len(pods) == 1 else None


async def test_a_statefulset_recreates_its_pod_only_once_the_old_one_is_gone(
    builtins_cluster: BuiltinsCluster,
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.apps.create_namespaced_stateful_set(ns, _workload("StatefulSet", "db", SLOW_EXIT, 30))

    def one_running() -> Awaitable[Any]:
        return _the_running_pod(cluster, ns, "db")

    old = await cluster.eventually(one_running, "db-0 Running", within=60)
    await cluster.core.delete_namespaced_pod("db-0", ns)
    terminating = await read_pod(cluster, ns, "db-0")
    assert terminating is not None
    assert terminating.metadata.uid == old.metadata.uid  # not replaced while it terminates
    assert terminating.metadata.deletion_timestamp is not None

    async def replaced() -> Any:
        pod = await one_running()
        return pod if pod is not None and pod.metadata.uid != old.metadata.uid else None

    new = await cluster.eventually(replaced, "db-0 recreated", within=30)
    assert new.metadata.name == "db-0"


async def test_a_replicaset_replaces_a_terminating_pod_at_once(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.apps.create_namespaced_replica_set(ns, _workload("ReplicaSet", "web", SLOW_EXIT, 30))

    def one_running() -> Awaitable[Any]:
        return _the_running_pod(cluster, ns, "web")

    old = await cluster.eventually(one_running, "web pod Running", within=60)
    await cluster.core.delete_namespaced_pod(old.metadata.name, ns)

    async def replacement_beside_terminating() -> bool:
        listed = (await cluster.core.list_namespaced_pod(ns, label_selector="app=web")).items
        names = {p.metadata.name: p for p in listed}
        others = [p for p in listed if p.metadata.name != old.metadata.name]
        still = names.get(old.metadata.name)
        return bool(others) and (still is None or still.metadata.deletion_timestamp is not None)

    await cluster.eventually(replacement_beside_terminating, "a replacement created", within=30)
    await cluster.eventually(one_running, "the replacement Running", within=30)
    await wait_gone(cluster, ns, old.metadata.name)


async def test_deleting_a_namespace_waits_for_its_terminating_pods(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    marker, started = tmp_path / "term", tmp_path / "started"
    await cluster.core.create_namespaced_pod(
        ns, python_pod("trap", TRAPPING, [str(marker), str(started)], 30)
    )
    await started_pid(cluster, started)
    await cluster.core.delete_namespace(ns)

    async def namespace_gone() -> bool:
        try:
            await cluster.core.read_namespace(ns)
        except k8s.ApiException as error:
            return error.status == 404
        return False

    await cluster.eventually(namespace_gone, "namespace removed", within=30)
    assert marker.read_text() == "term"  # its pod was stopped with SIGTERM before the namespace went
