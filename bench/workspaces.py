"""Workspace benchmark: N Workspaces created at a steady rate; create → workload-created latency, RSS.

An embedded API server (subprocess) and the operator (another subprocess running the workspace controller,
plus the local provisioner with `--provision`) are started here. Default: bring-your-own GPU nodes, one per
Workspace, exist up front, so the time measured is the reconciler's own (plan, place, ConfigMaps, Services,
StatefulSet); with `--provision` each Workspace gets a NodeClaim the local provider turns into a Node at once.
The clock runs from sending the create to the StatefulSet's ADDED event on a watch held by this process.
CPU per Workspace is reported for the operator and the embedded API server separately (/proc of each), up to
the last workload and once both have gone idle ("settled"), with API writes and reconcile passes per
Workspace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.resource import CONFIGMAPS, CRDS, NAMESPACES, NODES, STATEFULSETS
from kaito.reconcilers.names import WORKSPACES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_parts.cluster import embedded_cluster, kube_client
from runtime_parts.measure import proc_cpu, proc_rss_mb

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench-workspaces"

OPERATOR_SCRIPT = """
import asyncio, sys
from pathlib import Path
from kaito.cli.logs import configure_logging
from kaito.controllers.manager import Manager
from kaito.controllers.settings import ManagerSettings
from kaito.controllers.client import KubeClient
from kaito.reconcilers import WorkspaceSettings, WorkspaceSetup

WRITES = 0
_request = KubeClient.request

async def counted(self, method, path, **kwargs):
    global WRITES
    if method != "GET" and "/events" not in path:
        WRITES += 1
    return await _request(self, method, path, **kwargs)

KubeClient.request = counted

async def main() -> None:
    configure_logging("warning")
    setups = [WorkspaceSetup(WorkspaceSettings(workspace_workers=int(sys.argv[2])))]
    if sys.argv[3] == "1":
        from kaito.provisioner.settings import ProvisionerSettings
        from kaito.provisioner.setup import ProvisionerSetup
        setups.append(ProvisionerSetup(ProvisionerSettings(
            provider="local", local_node_delay_s=0, gc_interval_s=3600, gc_grace_s=3600, workers=8)))
    settings = ManagerSettings(kubeconfig=Path(sys.argv[1]), leader_elect=False, bind_address="127.0.0.1:0")
    manager = Manager(settings, setups)
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    while not manager.leading.is_set():
        await asyncio.sleep(0.02)
    print("READY", flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    stop.set()
    await run
    from kaito.reconcilers.metrics import RECONCILE_OUTCOMES
    samples = [s for m in RECONCILE_OUTCOMES.collect() for s in m.samples if s.name.endswith("_total")]
    passes = sum(s.value for s in samples)
    print("WRITES", WRITES, "PASSES", int(passes), flush=True)

asyncio.run(main())
"""


def gpu_node(index: int) -> dict[str, Any]:
    name = f"bench-gpu-{index:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4",
                "nvidia.com/gpu.count": "1",
                "nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe",
                "nvidia.com/gpu.memory": "81920",
                "bench": f"ws-{index:05d}",
            },
        },
        "status": {
            "allocatable": {"nvidia.com/gpu": "1", "cpu": "8", "memory": "64Gi"},
            "capacity": {"nvidia.com/gpu": "1", "cpu": "8", "memory": "64Gi"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
        },
    }


def workspace(index: int, provision: bool) -> dict[str, Any]:
    resource: dict[str, Any] = {"labelSelector": {"matchLabels": {"bench": f"ws-{index:05d}"}}}
    if provision:
        resource["instanceType"] = "Standard_NC24ads_A100_v4"
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": f"ws-{index:05d}", "namespace": NAMESPACE},
        "resource": resource,
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


async def setup_cluster(kube: KubeClient, count: int, provision: bool) -> None:
    for path in sorted((REPO / "config" / "crd").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                with contextlib.suppress(ConflictError):
                    await kube.create(CRDS, doc)
    async with asyncio.timeout(30):
        while True:
            try:
                await kube.list(WORKSPACES, NAMESPACE, limit=1)
                break
            except NotFoundError:
                await asyncio.sleep(0.1)
    with contextlib.suppress(ConflictError):
        await kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    if provision:
        return
    semaphore = asyncio.Semaphore(16)

    async def add(index: int) -> None:
        async with semaphore:
            node = gpu_node(index)
            created = await kube.create(NODES, node)
            if (created.get("status") or {}).get("allocatable") != node["status"]["allocatable"]:
                created["status"] = node["status"]
                await kube.update_status(NODES, created)

    await asyncio.gather(*(add(i) for i in range(count)))


async def write_ceiling(kube: KubeClient, writes: int = 400, in_flight: int = 16) -> float:
    """Writes/s this API server sustains for small objects with `in_flight` concurrent writers."""
    semaphore = asyncio.Semaphore(in_flight)

    async def write(index: int) -> None:
        async with semaphore:
            body = {"metadata": {"name": f"ceiling-{index}", "namespace": NAMESPACE}, "data": {"k": "v"}}
            await kube.create(CONFIGMAPS, body)

    started = time.monotonic()
    await asyncio.gather(*(write(i) for i in range(writes)))
    return writes / (time.monotonic() - started)


async def workspace_write_ceiling(kube: KubeClient, count: int, in_flight: int = 16) -> float:
    """Workspace status writes/s (each a GET and a PUT to /status) this API server sustains."""
    semaphore = asyncio.Semaphore(in_flight)

    async def write(index: int) -> None:
        async with semaphore:
            obj = await kube.get(WORKSPACES, f"ws-{index:05d}", NAMESPACE)
            obj["status"] = {**(obj.get("status") or {}), "state": "Bench"}
            await kube.update_status(WORKSPACES, obj)

    started = time.monotonic()
    await asyncio.gather(*(write(i) for i in range(count)))
    return count / (time.monotonic() - started)


async def start_operator(kubeconfig: Path, workers: int, provision: bool) -> asyncio.subprocess.Process:
    log = Path(tempfile.gettempdir()) / "kaito-bench-workspaces-operator.log"
    stderr = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OPERATOR_SCRIPT, str(kubeconfig), str(workers), "1" if provision else "0",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    finally:
        os.close(stderr)
    assert process.stdout is not None
    async with asyncio.timeout(120):
        while (line := await process.stdout.readline()) and line.strip() != b"READY":
            pass
    if process.returncode is not None:
        raise RuntimeError(f"the operator exited early; see {log}")
    return process


async def watch_workloads(kube: KubeClient, seen: dict[str, float], count: int, ready: asyncio.Event) -> None:
    listed = await kube.list(STATEFULSETS, NAMESPACE)
    version = listed["metadata"]["resourceVersion"]
    ready.set()
    while len(seen) < count:
        async for event in kube.watch(STATEFULSETS, NAMESPACE, resource_version=version, timeout_seconds=60):
            obj = event.get("object") or {}
            version = (obj.get("metadata") or {}).get("resourceVersion", version)
            if event.get("type") == "ADDED":
                seen.setdefault(obj["metadata"]["name"], time.monotonic())
            if len(seen) >= count:
                return


def server_pid() -> int | None:
    """The embedded API server: this process's child running LocalCluster (None with --kubeconfig)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and b"LocalCluster" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


async def settle(*pids: int | None, idle_cpu_s: float = 0.02, period_s: float = 0.5) -> None:
    """Wait (at most 60 s) until none of `pids` used more than `idle_cpu_s` CPU in one `period_s`."""
    watched = [pid for pid in pids if pid]
    async with asyncio.timeout(60):
        last = [proc_cpu(pid) for pid in watched]
        while True:
            await asyncio.sleep(period_s)
            now = [proc_cpu(pid) for pid in watched]
            if all(b - a <= idle_cpu_s for a, b in zip(last, now, strict=True)):
                return
            last = now


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count = args.count or (200 if args.quick else 1000)
    async with embedded_cluster(args.kubeconfig) as kubeconfig:
        kube = await kube_client(kubeconfig)
        try:
            await setup_cluster(kube, count, args.provision)
            ceiling = await write_ceiling(kube)
            operator = await start_operator(kubeconfig, args.workers, args.provision)
            server = server_pid()
            cpu_before = proc_cpu(operator.pid)
            server_cpu_before = proc_cpu(server) if server else 0.0
            seen: dict[str, float] = {}
            sent: dict[str, float] = {}
            watching = asyncio.Event()
            watcher = asyncio.create_task(watch_workloads(kube, seen, count, watching))
            await watching.wait()
            started = time.monotonic()
            interval = 1.0 / args.rate
            for index in range(count):
                await asyncio.sleep(max(0.0, started + index * interval - time.monotonic()))
                name = f"ws-{index:05d}"
                sent[name] = time.monotonic()
                asyncio.get_running_loop().create_task(
                    kube.create(WORKSPACES, workspace(index, args.provision))
                )
            async with asyncio.timeout(args.timeout):
                await watcher
            elapsed = time.monotonic() - started
            operator_cpu = proc_cpu(operator.pid) - cpu_before
            server_cpu = proc_cpu(server) - server_cpu_before if server else 0.0
            latencies = [seen[name] - sent[name] for name in sent]
            result = {
                "workspaces": count,
                "rate_per_s": args.rate,
                "mode": "provision" if args.provision else "bring-your-own nodes",
                "create_to_workload_s": {
                    "p50": round(statistics.median(latencies), 4),
                    "p99": round(percentile(latencies, 0.99), 4),
                    "max": round(max(latencies), 4),
                },
                "elapsed_s": round(elapsed, 2),
                "operator_cpu_s": round(operator_cpu, 2),
                "operator_cpu_ms_per_workspace": round(1000 * operator_cpu / count, 2),
                "api_server_cpu_ms_per_workspace": round(1000 * server_cpu / count, 2) if server else None,
                "operator_peak_rss_mb": round(proc_rss_mb(operator.pid), 1),
                "operator_rss_mb": round(proc_rss_mb(operator.pid, "VmRSS"), 1),
            }
            # The passes after the workload (status writes, events of the children) cost CPU too.
            await settle(operator.pid, server)
            operator_total = proc_cpu(operator.pid) - cpu_before
            server_total = proc_cpu(server) - server_cpu_before if server else 0.0
            result["settled_operator_cpu_ms_per_workspace"] = round(1000 * operator_total / count, 2)
            if server:
                result["settled_api_server_cpu_ms_per_workspace"] = round(1000 * server_total / count, 2)
            assert operator.stdin is not None
            assert operator.stdout is not None
            operator.stdin.close()
            async with asyncio.timeout(30):
                tail = (await operator.stdout.read()).decode().split()
                await operator.wait()
            writes = int(tail[tail.index("WRITES") + 1]) if "WRITES" in tail else 0
            per_workspace = writes / count
            result["operator_writes_per_workspace"] = round(per_workspace, 2)
            if "PASSES" in tail:
                result["reconcile_passes_per_workspace"] = round(
                    int(tail[tail.index("PASSES") + 1]) / count, 2
                )
            result["api_configmap_creates_per_s"] = round(ceiling, 1)
            result["api_workspace_status_writes_per_s"] = round(
                await workspace_write_ceiling(kube, min(count, 200)), 1
            )
            return result
        finally:
            await kube.api_client.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 Workspaces instead of 1,000")
    parser.add_argument("--count", type=int, default=0, help="number of Workspaces (overrides --quick)")
    parser.add_argument("--rate", type=float, default=50.0, help="creates per second")
    parser.add_argument("--workers", type=int, default=16, help="workspace controller workers")
    parser.add_argument("--provision", action="store_true", help="NodeClaims + local provider, not BYO nodes")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster instead of an embedded one")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    target = result["create_to_workload_s"]["p99"] < 1.0
    print(f"target p99 < 1 s: {'met' if target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
