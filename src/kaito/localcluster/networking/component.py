"""`Networking`: the endpoints controller and the loopback service proxy as one `LocalCluster` component."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from kaito.localcluster.builtins.client import PODS, KubeClient
from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer
from kaito.localcluster.builtins.loops import Loops
from kaito.localcluster.networking.endpoints_controller import (
    ENDPOINT_SLICES,
    ENDPOINTS,
    SERVICES,
    EndpointsController,
)
from kaito.localcluster.networking.service_proxy import ServiceProxy, StartServer, start_tcp_server

log = structlog.get_logger(__name__)


class ClusterHandle(Protocol):
    kubeconfig_path: Path


class Networking:
    """Connects through the cluster's kubeconfig; `proxy` exposes the listeners (for inspection)."""

    def __init__(self, start_server: StartServer = start_tcp_server) -> None:
        self.start_server = start_server
        self._api: ApiClient | None = None
        self._events: EventRecorder | None = None
        self._proxy: ServiceProxy | None = None
        self._loops = Loops("net")

    @property
    def proxy(self) -> ServiceProxy:
        if self._proxy is None:
            raise RuntimeError("Networking is not started")
        return self._proxy

    async def start(self, cluster: ClusterHandle) -> None:
        self._api = await new_client_from_config(config_file=str(cluster.kubeconfig_path))
        client = KubeClient(self._api)
        services, pods = Informer(client, SERVICES), Informer(client, PODS)
        endpoints, slices = Informer(client, ENDPOINTS), Informer(client, ENDPOINT_SLICES)
        pods.add_index("namespace", lambda pod: [str(pod.get("metadata", {}).get("namespace") or "")])
        self._events = EventRecorder(client)
        controller = EndpointsController(client, services, pods, endpoints, slices)
        self._proxy = ServiceProxy(services, pods, endpoints, self._events, self.start_server)
        await self._loops.start((services, pods, endpoints, slices), (controller, self._proxy))
        log.info("networking.started")

    async def stop(self) -> None:
        await self._loops.stop()
        if self._proxy is not None:
            await self._proxy.close()
        if self._events is not None:
            await self._events.close()
            self._events = None
        if self._api is not None:
            await self._api.close()
            self._api = None
