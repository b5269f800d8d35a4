"""A local cluster *with* the built-in controllers, scheduler, simulated nodes and pod runner.

The session-wide ``embedded_cluster`` of ``tests/conftest.py`` runs only the API server; the tests of the
built-ins need their own, configured with test images: ``local/python`` runs this interpreter, ``local/http``
runs ``python -m http.server $(PORT)``, ``registry.invalid/*`` cannot be pulled, anything else is simulated.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.localcluster.builtins import BuiltinControllers, BuiltinsConfig, ImageRuntime, NodeSpec, Taint
from kaito.localcluster.cluster import ThreadedLocalCluster

T = TypeVar("T")
GPU_TAINT = Taint(key="sku", value="gpu", effect="NoSchedule")


def builtins_config(data_dir: Path) -> BuiltinsConfig:
    python = sys.executable
    return BuiltinsConfig(
        data_dir=data_dir,
        nodes=[
            NodeSpec(name="cpu-0", cpu="8", memory="16Gi"),
            NodeSpec(
                name="gpu-a100-0",
                instance_type="Standard_NC24ads_A100_v4",
                gpu_count=1,
                gpu_product="NVIDIA-A100-80GB-PCIe",
                gpu_memory_mib=81920,
                taints=[GPU_TAINT],
            ),
        ],
        image_commands={
            "local/python": ImageRuntime(entrypoint=[python], executables={"python": python}),
            "local/http": ImageRuntime(
                entrypoint=[python, "-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"]
            ),
        },
        unpullable_images=["registry.invalid/*"],
        simulated_ready_delay_s=0.05,
        node_heartbeat_s=2.0,
        restart_backoff_base_s=0.3,
        restart_backoff_max_s=2.0,
        probe_time_scale=0.2,
    )


async def new_api_client(kubeconfig: Path) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return k8s.ApiClient(configuration=configuration)


@dataclass
class BuiltinsCluster:
    """Handles for one test session's cluster: typed API clients on the test loop, the running built-ins."""

    threaded: ThreadedLocalCluster
    builtins: BuiltinControllers
    api: k8s.ApiClient
    data_dir: Path

    @property
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api)

    @property
    def batch(self) -> Any:
        return k8s.BatchV1Api(self.api)

    async def namespace(self) -> str:
        name = f"b-{uuid.uuid4().hex[:8]}"
        await self.core.create_namespace({"metadata": {"name": name}})
        return name

    async def add_node(self, spec: NodeSpec) -> None:
        await self.threaded.acall(lambda: self.builtins.nodes.add_node(spec))

    async def remove_node(self, name: str) -> None:
        await self.threaded.acall(lambda: self.builtins.nodes.remove_node(name))

    @staticmethod
    async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0) -> T:
        """Poll `probe` until it returns something truthy; fail with `what` and the last value otherwise."""
        deadline = asyncio.get_running_loop().time() + within
        last: T | None = None
        while True:
            last = await probe()
            if last:
                return last
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
async def builtins_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BuiltinsCluster]:
    data_dir = tmp_path_factory.mktemp("builtins")
    builtins = BuiltinControllers(builtins_config(data_dir))
    threaded = ThreadedLocalCluster(data_dir, persist=False, bookmark_interval=2.0, components=[builtins])
    await asyncio.to_thread(threaded.start)
    api = await new_api_client(threaded.kubeconfig_path)
    try:
        yield BuiltinsCluster(threaded, builtins, api, data_dir)
    finally:
        await api.close()
        await asyncio.to_thread(threaded.stop)
