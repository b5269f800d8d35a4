"""`kubectl logs -f` follows a runner container's output until it exits; a simulated one ends at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from localcluster.conftest import BuiltinsCluster

KUBECTL = Path(sys.executable).with_name("kubectl")
SCRIPT = """
import pathlib, sys, time
print("start", flush=True)
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.05)
print("end", flush=True)
"""


def _kubectl(cluster: BuiltinsCluster, *args: str) -> subprocess.Popen[str]:
    env = {"KUBECONFIG": str(cluster.threaded.kubeconfig_path), "HOME": str(cluster.data_dir)}
    return subprocess.Popen(
        [str(KUBECTL), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def _phase(cluster: BuiltinsCluster, ns: str, name: str, *phases: str) -> Any:
    async def probe() -> Any:
        pod = await cluster.core.read_namespaced_pod(name, ns)
        return pod if pod.status.phase in phases else None

    return await cluster.eventually(probe, f"pod {name} {phases}", within=60)


async def test_logs_follow_streams_until_the_container_exits(
    builtins_cluster: BuiltinsCluster, tmp_path: Path
) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    flag = tmp_path / "go"
    container = {"name": "main", "image": "local/python", "command": ["python", "-c", SCRIPT, str(flag)]}
    body = {"metadata": {"name": "talker"}, "spec": {"restartPolicy": "Never", "containers": [container]}}
    await cluster.core.create_namespaced_pod(ns, body)
    await _phase(cluster, ns, "talker", "Running")

    async def started() -> bool:
        return "start" in await cluster.core.read_namespaced_pod_log("talker", ns)

    await cluster.eventually(started, "the first line logged")
    follower = _kubectl(cluster, "logs", "-f", "-n", ns, "talker", "-c", "main")
    try:
        assert follower.stdout is not None
        first = await asyncio.wait_for(asyncio.to_thread(follower.stdout.readline), 30)
        assert first == "start\n"
        assert follower.poll() is None  # still following: the container has not exited
        flag.touch()
        rest, err = await asyncio.wait_for(asyncio.to_thread(follower.communicate), 30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (rest, follower.returncode) == ("end\n", 0), err
    await _phase(cluster, ns, "talker", "Succeeded")
    tail = _kubectl(cluster, "logs", "-f", "--tail=1", "-n", ns, "talker")
    out, err = await asyncio.wait_for(asyncio.to_thread(tail.communicate), 30)
    assert (out, tail.returncode) == ("end\n", 0), err


async def test_logs_follow_of_a_simulated_pod_ends(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    body = {
        "metadata": {"name": "sim"},
        "spec": {"containers": [{"name": "c", "image": "example.com/sim:1"}]},
    }
    await cluster.core.create_namespaced_pod(ns, body)
    await _phase(cluster, ns, "sim", "Running")
    follower = _kubectl(cluster, "logs", "-f", "-n", ns, "sim")
    out, err = await asyncio.wait_for(asyncio.to_thread(follower.communicate), 30)
    assert follower.returncode == 0, err
    assert out == "simulated container c (image example.com/sim:1) on cpu-0\n"
