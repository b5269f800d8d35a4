"""`kubectl port-forward` to a runner pod (and to a Service's pod) through the API server's tunnelled SPDY."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from localcluster.conftest import BuiltinsCluster

KUBECTL = Path(sys.executable).with_name("kubectl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(cluster: BuiltinsCluster, *args: str) -> subprocess.Popen[str]:
    env = {"KUBECONFIG": str(cluster.threaded.kubeconfig_path), "HOME": str(cluster.data_dir)}
    return subprocess.Popen(
        [str(KUBECTL), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


async def _forward(
    cluster: BuiltinsCluster, ns: str, target: str, remote: int
) -> tuple[subprocess.Popen[str], int]:
    """Start `kubectl port-forward` and return it once it reports the local port it listens on."""
    local = _free_port()
    process = _start(cluster, "port-forward", "-n", ns, target, f"{local}:{remote}", "--address", "127.0.0.1")
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
    assert line.startswith("Forwarding from 127.0.0.1:"), (line, process.poll())
    return process, local


async def test_port_forward_to_a_pod_with_concurrent_connections(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    container = {
        "name": "web",
        "image": "local/http",
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
    }
    body = {"metadata": {"name": "fwd", "labels": {"app": "fwd"}}, "spec": {"containers": [container]}}
    await cluster.core.create_namespaced_pod(ns, body)

    async def ready() -> bool:
        return _ready(await cluster.core.read_namespaced_pod("fwd", ns))

    await cluster.eventually(ready, "pod ready", within=60)
    pod = await cluster.core.read_namespaced_pod("fwd", ns)
    big = os.urandom(3 * 1024 * 1024)  # well past SPDY's 64 KiB initial window
    served = Path(pod.metadata.annotations["localcluster.kaito.sh/pod-dir"]) / "containers" / "web"
    await asyncio.to_thread((served / "big.bin").write_bytes, big)
    service = {
        "metadata": {"name": "fwd"},
        "spec": {"selector": {"app": "fwd"}, "ports": [{"port": 9000, "targetPort": "http"}]},
    }
    await cluster.core.create_namespaced_service(ns, service)
    for target, remote in (("pod/fwd", 8000), ("svc/fwd", 9000)):
        process, local = await _forward(cluster, ns, target, remote)
        try:
            connector = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one(i: int, local: int = local) -> bytes:
                    async with session.get(f"http://127.0.0.1:{local}/?n={i}") as response:
                        assert response.status == 200
                        return await response.read()

                bodies = await asyncio.gather(*(one(i) for i in range(20)))
                assert all(b"Directory listing" in body for body in bodies)
                async with session.get(f"http://127.0.0.1:{local}/big.bin") as response:
                    assert await response.read() == big
        finally:
            process.terminate()
            _, err = await asyncio.to_thread(process.communicate, timeout=10)
        assert "error" not in err.lower(), err


async def test_port_forward_to_an_unserved_port_reports_the_error(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    container = {"name": "web", "image": "local/http", "ports": [{"containerPort": 8000}]}
    await cluster.core.create_namespaced_pod(
        ns, {"metadata": {"name": "fwd"}, "spec": {"containers": [container]}}
    )

    async def running() -> bool:
        return bool((await cluster.core.read_namespaced_pod("fwd", ns)).status.phase == "Running")

    await cluster.eventually(running, "pod running", within=60)
    process, local = await _forward(cluster, ns, "pod/fwd", 8001)

    def exchange() -> bytes:
        with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return conn.recv(100)

    try:
        assert await asyncio.to_thread(exchange) == b""  # closed, not hung
    finally:
        process.terminate()
        _, err = await asyncio.to_thread(process.communicate, timeout=10)
    assert "error forwarding port 8001 to pod fwd" in err
