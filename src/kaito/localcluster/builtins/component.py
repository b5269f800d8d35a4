"""`BuiltinControllers`: the scheduler, workload controllers, node simulator and kubelets as one component."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import aiohttp
import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from kaito.localcluster.builtins.client import (
    DEPLOYMENTS,
    JOBS,
    NODES,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    KubeClient,
)
from kaito.localcluster.builtins.config import BuiltinsConfig
from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer
from kaito.localcluster.builtins.loops import Loops
from kaito.localcluster.builtins.node_simulator import NodeSimulator
from kaito.localcluster.builtins.runner.kubelet import Kubelet
from kaito.localcluster.builtins.scheduler import Scheduler
from kaito.localcluster.builtins.workloads.common import controller_uid
from kaito.localcluster.builtins.workloads.deployment import DeploymentController
from kaito.localcluster.builtins.workloads.job import JobController
from kaito.localcluster.builtins.workloads.replicaset import ReplicaSetController
from kaito.localcluster.builtins.workloads.statefulset import StatefulSetController
from kaito.localcluster.builtins.workqueue import Controller

log = structlog.get_logger(__name__)


class ClusterHandle(Protocol):
    """What the builtins need of `LocalCluster`: where its kubeconfig is and its `pods/log` hook."""

    kubeconfig_path: Path
    log_provider: Callable[[str, str, dict[str, str]], Awaitable[str]] | None


class BuiltinControllers:
    """What kube-controller-manager, kube-scheduler and the kubelets do, as clients of the API server."""

    def __init__(self, config: BuiltinsConfig) -> None:
        self.config = config
        self._api: ApiClient | None = None
        self._owns_api = False
        self._loops = Loops("informer")
        self._kubelet: Kubelet | None = None
        self._nodes: NodeSimulator | None = None
        self._events: EventRecorder | None = None

    @property
    def nodes(self) -> NodeSimulator:
        """Add or remove simulated nodes while running."""
        if self._nodes is None:
            raise RuntimeError("BuiltinControllers is not started")
        return self._nodes

    async def start(self, cluster: ClusterHandle) -> None:
        """The LocalCluster component hook: connect as a client and serve `pods/log` from the runner."""
        await self.start_with_kubeconfig(cluster.kubeconfig_path)
        cluster.log_provider = self.read_log

    async def read_log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        """Serves `pods/log` from the runner's log files (the API server's LogProvider hook)."""
        return await self._kubelet.read_log(namespace, name, query) if self._kubelet is not None else ""

    async def start_with_kubeconfig(self, kubeconfig: Path) -> None:
        api = await new_client_from_config(config_file=str(kubeconfig))
        _skip_env_proxy_lookup(api)
        self._owns_api = True
        await self.start_with_client(api)

    async def start_with_client(self, api: ApiClient) -> None:
        """Start every loop on the given (shared) ApiClient; return once caches sync and nodes are Ready."""
        self._api = api
        client = KubeClient(api)
        informers = {
            resource.plural: Informer(client, resource)
            for resource in (PODS, NODES, DEPLOYMENTS, REPLICASETS, STATEFULSETS, JOBS)
        }
        pods, nodes = informers["pods"], informers["nodes"]
        self._events = events = EventRecorder(client, enabled=self.config.record_events)
        pods.add_index("owner", controller_uid)
        pods.add_index("node", lambda pod: [str(pod.get("spec", {}).get("nodeName") or "")])
        informers["replicasets"].add_index("owner", controller_uid)
        self._nodes = NodeSimulator(client, nodes, pods, self.config.node_heartbeat_s)
        controllers: list[Controller] = [
            Scheduler(client, pods, nodes, self.config.scheduler_name, events),
            ReplicaSetController(client, informers["replicasets"], pods, events),
            DeploymentController(client, informers["deployments"], informers["replicasets"], events),
            StatefulSetController(client, informers["statefulsets"], pods, events),
            JobController(client, informers["jobs"], pods, self.config.restart_backoff_base_s, events),
            self._nodes,
        ]
        self._kubelet = Kubelet(client, self.config, pods, nodes, events)
        await self._kubelet.start()
        await self._loops.start(informers.values(), controllers)
        await self._nodes.sync_configured(self.config.nodes)
        log.info("builtins.started", nodes=[spec.name for spec in self.config.nodes])

    async def stop(self) -> None:
        """Stop all loops and every local process; the API client is closed if we opened it."""
        await self._loops.stop()
        if self._kubelet is not None:
            await self._kubelet.stop()
            self._kubelet = None
        if self._events is not None:
            await self._events.close()
            self._events = None
        if self._api is not None and self._owns_api:
            await self._api.close()
        self._api = None


def _skip_env_proxy_lookup(api: ApiClient) -> None:
    """kubernetes-asyncio's session trusts the environment, which costs a thread hop (proxy and netrc lookup)
    per request; the local API server is always reached directly, so swap in a session that does not."""
    old: aiohttp.ClientSession = api.rest_client.pool_manager
    connector = old.connector
    old.detach()
    api.rest_client.pool_manager = aiohttp.ClientSession(
        connector=connector, trust_env=False, read_bufsize=2**21
    )
