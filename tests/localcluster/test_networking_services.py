"""Endpoints/EndpointSlices follow readiness; the loopback service proxy on ClusterIP:port; API proxies."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from kubernetes_asyncio import client as k8s

from kaito.localcluster.builtins import BuiltinControllers, ImageRuntime, port_annotation
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.localcluster.networking import Networking
from kaito.localcluster.networking.images import client_tool_images
from kaito.localcluster.networking.service_proxy import ConnectionHandler, start_tcp_server
from localcluster.conftest import BuiltinsCluster, builtins_config, new_api_client

APP = Path(__file__).with_name("networking_app.py")
KUBECTL = Path(sys.executable).with_name("kubectl")
REFUSED_PORT = 81


def private_service_cidr() -> str:
    """ClusterIPs are host-wide loopback addresses: a range of its own keeps this cluster's listeners clear
    of any other local cluster running on the machine at the same time (each allocates from .2 upwards)."""
    return f"127.{random.randrange(100, 250)}.0.0/16"


async def refuse_one_port(handler: ConnectionHandler, host: str, port: int) -> asyncio.AbstractServer:
    """Stands in for a non-root user: binding REFUSED_PORT is denied, as the kernel would below 1024."""
    if port == REFUSED_PORT:
        raise PermissionError(13, "Permission denied")
    return await start_tcp_server(handler, host, port)


@dataclass
class Net:
    cluster: BuiltinsCluster
    networking: Networking

    @property
    def url(self) -> str:
        return self.cluster.threaded.url

    def kubectl(self, *args: str, body: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"KUBECONFIG": str(self.cluster.threaded.kubeconfig_path), "HOME": str(self.cluster.data_dir)}
        return subprocess.run(
            [str(KUBECTL), *args], input=body, env=env, capture_output=True, text=True, timeout=60
        )


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Net]:
    data_dir = tmp_path_factory.mktemp("networking")
    config = builtins_config(data_dir)
    config.image_commands["local/app"] = ImageRuntime(entrypoint=[sys.executable, str(APP)])
    config.image_commands.update(client_tool_images())
    builtins = BuiltinControllers(config)
    networking = Networking(start_server=refuse_one_port)
    threaded = ThreadedLocalCluster(
        data_dir,
        persist=False,
        bookmark_interval=2.0,
        service_cidr=private_service_cidr(),
        components=[builtins, networking],
    )
    await asyncio.to_thread(threaded.start)
    api = await new_api_client(threaded.kubeconfig_path)
    try:
        yield Net(BuiltinsCluster(threaded, builtins, api, data_dir), networking)
    finally:
        await api.close()
        await asyncio.to_thread(threaded.stop)


async def deploy(net: Net, ns: str, name: str, replicas: int) -> list[Any]:
    """A Deployment of the test app with a readiness probe on /ready; returns its pods once all are Ready."""
    container = {
        "name": "app",
        "image": "local/app",
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
    }
    labels = {"app": name}
    await net.cluster.apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    )

    async def ready() -> list[Any]:
        pods = (await net.cluster.core.list_namespaced_pod(ns, label_selector=f"app={name}")).items
        ok = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return ok if len(ok) == replicas else []

    return await net.cluster.eventually(ready, f"{replicas} ready pods of {name}", within=60)


async def service(net: Net, ns: str, name: str, port: int = 8080, **spec: Any) -> str:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"name": "web", "port": port, "targetPort": "http"}]},
    }
    body["spec"].update(spec)
    created = await net.cluster.core.create_namespaced_service(ns, body)
    return str(created.spec.cluster_ip)


async def listening(net: Net, ip: str, port: int) -> bool:
    def attempt() -> bool:
        try:
            socket.create_connection((ip, port), timeout=1).close()
        except OSError:
            return False
        return True

    return await asyncio.to_thread(attempt)


def host_port(pod: Any) -> int:
    return int(pod.metadata.annotations[port_annotation(8000)])


async def test_endpoints_and_slices_follow_readiness(net: Net) -> None:
    ns = await net.cluster.namespace()
    (pod,) = await deploy(net, ns, "web", 1)
    await service(net, ns, "web")
    await service(net, ns, "all", selector={"app": "web"}, publishNotReadyAddresses=True)
    discovery = k8s.DiscoveryV1Api(net.cluster.api)

    async def addresses(name: str, field: str = "addresses") -> list[Any]:
        try:
            got = await net.cluster.core.read_namespaced_endpoints(name, ns)
        except k8s.ApiException as error:
            if error.status == 404:
                return []
            raise
        return [a for subset in got.subsets or [] for a in getattr(subset, field) or []]

    ready = await net.cluster.eventually(lambda: addresses("web"), "ready address")
    assert ready[0].target_ref.name == pod.metadata.name
    assert ready[0].ip == "127.0.0.1"
    endpoints = await net.cluster.core.read_namespaced_endpoints("web", ns)
    assert endpoints.subsets[0].ports[0].port == 8000  # the named targetPort, resolved
    assert endpoints.subsets[0].ports[0].name == "web"
    slices = await discovery.list_namespaced_endpoint_slice(
        ns, label_selector="kubernetes.io/service-name=web"
    )
    assert [e.conditions.ready for s in slices.items for e in s.endpoints] == [True]
    assert slices.items[0].ports[0].port == 8000

    async with aiohttp.ClientSession() as session:
        await session.post(f"http://127.0.0.1:{host_port(pod)}/unready")
    await net.cluster.eventually(lambda: addresses("web", "not_ready_addresses"), "pod not ready")
    assert await addresses("web") == []
    assert len(await addresses("all")) == 1  # publishNotReadyAddresses

    async def slice_not_ready() -> bool:
        got = await discovery.list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=web"
        )
        return [e.conditions.ready for s in got.items for e in s.endpoints or []] == [False]

    await net.cluster.eventually(slice_not_ready, "slice endpoint not ready")
    await net.cluster.core.delete_namespaced_service("web", ns)

    async def gone() -> bool:
        try:
            await net.cluster.core.read_namespaced_endpoints("web", ns)
        except k8s.ApiException as error:
            return error.status == 404
        return False

    await net.cluster.eventually(gone, "Endpoints deleted with the Service")


async def test_cluster_ip_round_robin_and_concurrency(net: Net) -> None:
    ns = await net.cluster.namespace()
    pods = await deploy(net, ns, "rr", 2)
    ip = await service(net, ns, "rr", port=80)
    names = {p.metadata.name for p in pods}
    await net.cluster.eventually(lambda: listening(net, ip, 80), "listener on ClusterIP:80")

    async def both_backends() -> bool:
        # One connection per request: the proxy balances connections, not requests on a kept-alive one.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            seen = []
            for _ in range(4):
                async with session.get(f"http://{ip}/") as response:
                    seen.append((await response.text()).split()[2])
        return set(seen) == names and seen[0] != seen[1] and seen[1] != seen[2]

    await net.cluster.eventually(both_backends, "round-robin over both pods")
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> str:
            async with session.get(f"http://{ip}/n{i}") as response:
                assert response.status == 200
                return await response.text()

        replies = await asyncio.gather(*(one(i) for i in range(200)))
    assert all(reply.endswith(f"path=/n{i}") for i, reply in enumerate(replies))
    assert {reply.split()[2] for reply in replies} == names


async def test_no_ready_endpoint_fails_promptly(net: Net) -> None:
    ns = await net.cluster.namespace()
    ip = await service(net, ns, "empty", port=8090)
    await net.cluster.eventually(lambda: listening(net, ip, 8090), "listener for the empty Service")
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"http://{ip}:8090/", timeout=aiohttp.ClientTimeout(total=10)):
                pass
    assert loop.time() - started < 5
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{net.url}/api/v1/namespaces/{ns}/services/empty:web/proxy/")
    assert response.status_code == 503
    status = response.json()
    assert (status["kind"], status["reason"]) == ("Status", "ServiceUnavailable")
    assert "no endpoints available" in status["message"]


async def test_refused_bind_records_one_warning_and_other_ports_work(net: Net) -> None:
    ns = await net.cluster.namespace()
    await deploy(net, ns, "low", 1)
    ports = [
        {"name": "low", "port": REFUSED_PORT, "targetPort": "http"},
        {"name": "high", "port": 8082, "targetPort": "http"},
    ]
    ip = await service(net, ns, "low", ports=ports)
    await net.cluster.eventually(lambda: listening(net, ip, 8082), "the other port still listens")
    async with aiohttp.ClientSession() as session, session.get(f"http://{ip}:8082/") as response:
        assert response.status == 200

    async def warnings() -> list[Any]:
        events = await net.cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=low")
        return [e for e in events.items if e.reason == "FailedToBindServicePort"]

    (event,) = await net.cluster.eventually(warnings, "a FailedToBindServicePort event")
    assert (event.type, event.involved_object.kind) == ("Warning", "Service")
    assert f":{REFUSED_PORT}" in event.message
    assert "CAP_NET_BIND_SERVICE" in event.message
    patch = {"metadata": {"labels": {"touched": "yes"}}}
    await net.cluster.core.patch_namespaced_service("low", ns, patch)  # a retry, not a second event
    await asyncio.sleep(0.5)
    assert [event.count for event in await warnings()] == [1]


async def test_apiserver_proxies_with_kubectl(net: Net) -> None:
    ns = await net.cluster.namespace()
    (pod,) = await deploy(net, ns, "api", 1)
    await service(net, ns, "api")
    name = pod.metadata.name
    got = await asyncio.to_thread(
        net.kubectl, "get", "--raw", f"/api/v1/namespaces/{ns}/services/api:web/proxy/x?q=1"
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == f"hello from {name} path=/x?q=1"
    got = await asyncio.to_thread(
        net.kubectl, "get", "--raw", f"/api/v1/namespaces/{ns}/pods/{name}:8000/proxy/"
    )
    assert got.stdout == f"hello from {name} path=/", got.stderr
    path = f"/api/v1/namespaces/{ns}/services/http:api:8080/proxy/echo"
    got = await asyncio.to_thread(net.kubectl, "create", "--raw", path, "-f", "-", body='{"prompt": "hi"}')
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {"pod": name, "path": "/echo", "body": {"prompt": "hi"}}
    got = await asyncio.to_thread(
        net.kubectl, "get", "--raw", f"/api/v1/namespaces/{ns}/services/nope/proxy/"
    )
    assert got.returncode != 0
    assert 'services "nope" not found' in got.stderr


async def test_kubectl_run_curl_reaches_a_cluster_ip(net: Net) -> None:
    ns = await net.cluster.namespace()
    (pod,) = await deploy(net, ns, "curled", 1)
    ip = await service(net, ns, "curled", port=8087)
    await net.cluster.eventually(lambda: listening(net, ip, 8087), "listener for the curled Service")
    for name, args in (("c1", ["curl", "-s", f"http://{ip}:8087/a"]), ("c2", ["-s", f"http://{ip}:8087/b"])):
        run = ["run", name, "-n", ns, "--image=curlimages/curl", "--restart=Never", "--", *args]
        got = await asyncio.to_thread(net.kubectl, *run)
        assert got.returncode == 0, got.stderr

        async def succeeded(name: str = name) -> bool:
            return bool((await net.cluster.core.read_namespaced_pod(name, ns)).status.phase == "Succeeded")

        await net.cluster.eventually(succeeded, f"{name} pod Succeeded", within=60)
        log = await asyncio.to_thread(net.kubectl, "logs", "-n", ns, name)
        assert log.stdout == f"hello from {pod.metadata.name} path=/{args[-1][-1]}"


async def test_streaming_arrives_incrementally_through_both_paths(net: Net) -> None:
    ns = await net.cluster.namespace()
    (pod,) = await deploy(net, ns, "sse", 1)
    ip = await service(net, ns, "sse", port=8083)
    await net.cluster.eventually(lambda: listening(net, ip, 8083), "listener for the sse Service")
    direct = f"http://127.0.0.1:{host_port(pod)}"
    urls = [f"{net.url}/api/v1/namespaces/{ns}/services/sse:web/proxy/stream", f"http://{ip}:8083/stream"]
    async with httpx.AsyncClient(timeout=30) as client:
        for url in urls:
            async with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/event-stream"
                chunks = response.aiter_raw()
                first = await asyncio.wait_for(anext(chunks), 15)  # arrives before the response ends
                assert first == b"data: first\n\n"
                await client.post(f"{direct}/release")
                rest = b"".join([chunk async for chunk in chunks])
                assert rest == b"data: second\n\n"


async def test_apiserver_proxy_200_concurrent(net: Net) -> None:
    ns = await net.cluster.namespace()
    await deploy(net, ns, "many", 2)
    await service(net, ns, "many")
    base = f"{net.url}/api/v1/namespaces/{ns}/services/many:web/proxy"
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int) -> str:
            response = await client.post(f"{base}/c{i}", json={"i": i})
            assert response.status_code == 200, response.text
            return str(response.json()["body"]["i"])

        replies = await asyncio.gather(*(one(i) for i in range(200)))
    assert replies == [str(i) for i in range(200)]


async def test_listeners_follow_services_and_close_with_the_cluster(tmp_path: Path) -> None:
    networking = Networking()
    threaded = ThreadedLocalCluster(
        tmp_path, persist=False, service_cidr=private_service_cidr(), components=[networking]
    )
    await asyncio.to_thread(threaded.start)
    api = await new_api_client(threaded.kubeconfig_path)
    core: Any = k8s.CoreV1Api(api)
    ns = f"n-{uuid.uuid4().hex[:6]}"
    try:
        await core.create_namespace({"metadata": {"name": ns}})
        body = {"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}, "ports": [{"port": 8084}]}}
        ip = (await core.create_namespaced_service(ns, body)).spec.cluster_ip
        other = {"metadata": {"name": "t"}, "spec": {"selector": {"a": "c"}, "ports": [{"port": 8085}]}}
        other_ip = (await core.create_namespaced_service(ns, other)).spec.cluster_ip
        probe = BuiltinsCluster.eventually
        await probe(lambda: _is_listening(ip, 8084), "listener for s")
        await probe(lambda: _is_listening(other_ip, 8085), "listener for t")
        patch = [{"op": "replace", "path": "/spec/ports/0/port", "value": 8086}]
        await core.patch_namespaced_service("s", ns, patch, _content_type="application/json-patch+json")
        await probe(lambda: _is_listening(ip, 8086), "listener moved to 8086")
        assert not await _is_listening(ip, 8084)
        await core.delete_namespaced_service("s", ns)
        await probe(lambda: _not(_is_listening(ip, 8086)), "listener closed with the Service")
    finally:
        await api.close()
        await asyncio.to_thread(threaded.stop)
    assert not await _is_listening(other_ip, 8085)


async def _is_listening(ip: str, port: int) -> bool:
    def attempt() -> bool:
        try:
            socket.create_connection((ip, port), timeout=1).close()
        except OSError:
            return False
        return True

    return await asyncio.to_thread(attempt)


async def _not(check: Any) -> bool:
    return not await check
