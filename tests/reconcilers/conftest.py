"""A local cluster with the built-in controllers for the workspace reconciler, and a running operator.

The operator under test is what `kaito operator --controllers=workspace,provisioner` runs: the Workspace
controller plus the provisioner with its local provider, whose NodeClaims become simulated GPU Nodes on
which the built-in kubelet runs (simulated) pods. Images: `registry.invalid/*` cannot be pulled;
`local/tune-ok` / `local/tune-fail` run a stand-in `kaito` that exits 0 / 1; `local/weights-slow` /
`local/weights-denied` one that sleeps / exits 21 (a weights fetch); anything else is simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.manager import ControllerSetup, Manager
from kaito.controllers.resource import CRDS, NAMESPACES, NODES
from kaito.controllers.settings import ManagerSettings
from kaito.localcluster.builtins import BuiltinControllers, BuiltinsConfig, ImageRuntime, NodeSpec
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.provisioner.settings import ProvisionerSettings
from kaito.provisioner.setup import ProvisionerSetup
from kaito.reconcilers import WorkspaceSettings, WorkspaceSetup
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
UNPULLABLE = "registry.invalid/kaito-serve:0.1.0"
SLOW_FETCH = "local/weights-slow"
DENIED_FETCH = "local/weights-denied"
DENIED_MESSAGE = "ModelAccessDenied: the hub refused the token in Secret hf-token (key HF_TOKEN)"


def _stand_in(directory: Path, name: str, code: int, sleep_s: int = 0, says: str = "") -> str:
    script = directory / name
    last_words = f"echo '{says}'\n" if says else ""
    script.write_text(f"#!/bin/sh\n{last_words}{f'exec sleep {sleep_s}' if sleep_s else f'exit {code}'}\n")
    script.chmod(0o755)
    return str(script)


def builtins_config(data_dir: Path) -> BuiltinsConfig:
    return BuiltinsConfig(
        data_dir=data_dir,
        image_commands={
            "local/tune-ok": ImageRuntime(executables={"kaito": _stand_in(data_dir, "kaito-ok", 0)}),
            "local/tune-fail": ImageRuntime(executables={"kaito": _stand_in(data_dir, "kaito-fail", 1)}),
            # A weights fetch that takes a while (the init container stays running).
            SLOW_FETCH: ImageRuntime(
                executables={"kaito": _stand_in(data_dir, "kaito-slow", 0, sleep_s=120)}
            ),
            # A weights fetch that fails as the real one does: exit 21 and the reason as its last words.
            DENIED_FETCH: ImageRuntime(
                executables={"kaito": _stand_in(data_dir, "kaito-denied", 21, says=DENIED_MESSAGE)}
            ),
        },
        unpullable_images=["registry.invalid/*"],
        simulated_ready_delay_s=0.05,
        node_heartbeat_s=5.0,
        restart_backoff_base_s=0.2,
        restart_backoff_max_s=1.0,
        probe_time_scale=0.2,
    )


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value otherwise."""
    deadline = asyncio.get_running_loop().time() + within
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(0.05)


@dataclass
class Cluster:
    """The test session's cluster: a raw client on the test loop and the simulated-node controls."""

    threaded: ThreadedLocalCluster
    builtins: BuiltinControllers
    kube: KubeClient
    api: k8s.ApiClient
    created: list[str]

    @property
    def kubeconfig(self) -> Path:
        return self.threaded.kubeconfig_path

    async def add_node(self, spec: NodeSpec) -> None:
        await self.threaded.acall(lambda: self.builtins.nodes.add_node(spec))

    async def remove_node(self, name: str) -> None:
        await self.threaded.acall(lambda: self.builtins.nodes.remove_node(name))

    async def namespace(self) -> str:
        name = f"w-{uuid.uuid4().hex[:8]}"
        await self.kube.create(NAMESPACES, {"metadata": {"name": name}})
        self.created.append(name)
        return name

    async def forget_namespaces(self) -> None:
        """Remove what a test left (Workspaces, their NodeClaims and Nodes), finalizers and all, so later
        tests' operators do not reconcile it."""
        unfinalize = {"metadata": {"finalizers": None}}
        while self.created:
            ns = self.created.pop()
            for ws in (await self.kube.list(WORKSPACES, ns)).get("items") or []:
                with contextlib.suppress(NotFoundError):
                    await self.kube.patch(WORKSPACES, ws["metadata"]["name"], unfinalize, namespace=ns)
                    await self.kube.delete(WORKSPACES, ws["metadata"]["name"], ns)
            selector = f"kaito.sh/workspacenamespace={ns}"
            for claim in (await self.kube.list(NODECLAIMS, label_selector=selector)).get("items") or []:
                with contextlib.suppress(NotFoundError):
                    await self.kube.patch(NODECLAIMS, claim["metadata"]["name"], unfinalize)
                    await self.kube.delete(NODECLAIMS, claim["metadata"]["name"])
            for node in (await self.kube.list(NODES, label_selector=selector)).get("items") or []:
                with contextlib.suppress(NotFoundError):
                    await self.kube.delete(NODES, node["metadata"]["name"])
            with contextlib.suppress(NotFoundError):
                await self.kube.delete(NAMESPACES, ns)

    async def workspace(self, namespace: str, name: str) -> JSON | None:
        try:
            return await self.kube.get(WORKSPACES, name, namespace)
        except NotFoundError:
            return None

    async def nodeclaims_of(self, namespace: str, name: str) -> list[JSON]:
        selector = f"kaito.sh/workspace={name},kaito.sh/workspacenamespace={namespace}"
        items: list[JSON] = (await self.kube.list(NODECLAIMS, label_selector=selector)).get("items") or []
        return items


async def _install_crds(kube: KubeClient) -> None:
    for path in sorted((REPO / "config" / "crd").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                with contextlib.suppress(ConflictError):
                    await kube.create(CRDS, doc)
    for resource in (WORKSPACES, NODECLAIMS):
        await eventually(lambda r=resource: _listable(kube, r), f"{resource} to be served")  # type: ignore[misc]


async def _listable(kube: KubeClient, resource: Any) -> bool:
    try:
        await kube.list(resource, limit=1)
    except NotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("reconcilers")
    builtins = BuiltinControllers(builtins_config(data_dir))
    threaded = ThreadedLocalCluster(data_dir, persist=False, bookmark_interval=2.0, components=[builtins])
    await asyncio.to_thread(threaded.start)
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(
        config_file=str(threaded.kubeconfig_path), client_configuration=configuration
    )
    api = k8s.ApiClient(configuration=configuration)
    kube = KubeClient(api)
    try:
        await _install_crds(kube)
        yield Cluster(threaded, builtins, kube, api, [])
    finally:
        await api.close()
        await asyncio.to_thread(threaded.stop)


def provisioner_settings() -> ProvisionerSettings:
    return ProvisionerSettings(
        provider="local", local_node_delay_s=0.05, gc_interval_s=3600, gc_grace_s=3600, node_poll_interval_s=1
    )


@contextlib.asynccontextmanager
async def running_operator(
    kubeconfig: Path,
    settings: WorkspaceSettings | None = None,
    *,
    provisioner: bool = True,
) -> AsyncIterator[WorkspaceSetup]:
    """A Manager with the workspace controller (and the local provisioner), stopped on exit."""
    workspace = WorkspaceSetup(settings or WorkspaceSettings())
    setups: list[ControllerSetup] = [workspace]
    if provisioner:
        setups.append(ProvisionerSetup(provisioner_settings()))
    manager = Manager(
        ManagerSettings(
            kubeconfig=kubeconfig, leader_elect=False, bind_address="127.0.0.1:0", shutdown_timeout=5
        ),
        setups,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: _leading(manager, run), "the operator to start")
        yield workspace
    finally:
        stop.set()
        await run


async def _leading(manager: Manager, run: asyncio.Task[int]) -> bool:
    if run.done():
        raise RuntimeError(f"operator exited early with {run.result()}")
    return manager.leading.is_set()


@pytest.fixture(autouse=True)
async def _clean_up_after_each_test(cluster: Cluster) -> AsyncIterator[None]:
    yield
    await cluster.forget_namespaces()


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[WorkspaceSetup]:
    async with running_operator(cluster.kubeconfig) as setup:
        yield setup


def load_example(path: str, namespace: str, label: str) -> JSON:
    """A seed example, in `namespace`, with a selector label unique to the test (nodes are shared)."""
    doc: JSON = yaml.safe_load((REPO / "examples" / path).read_text())
    doc["metadata"]["namespace"] = namespace
    match = doc["resource"]["labelSelector"]["matchLabels"]
    for key in match:
        match[key] = label
    return doc


def condition(workspace: JSON | None, type_: str) -> JSON | None:
    for item in ((workspace or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return None


def is_true(workspace: JSON | None, type_: str) -> bool:
    found = condition(workspace, type_)
    return found is not None and found.get("status") == "True"
