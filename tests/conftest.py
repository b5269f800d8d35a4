"""Shared cluster fixtures: every test that needs Kubernetes gets it from here.

``KAITO_TEST_KUBECONFIG`` set: tests run against that (real) cluster. Unset: one embedded ``LocalCluster``
runs in a background thread for the whole session, with the CRDs in ``config/crd/*.yaml`` installed.

Fixtures:
- ``kubeconfig`` (session) -> ``Path`` of the kubeconfig to use.
- ``embedded_cluster`` (session) -> ``ThreadedLocalCluster`` or ``None`` on a real cluster; blocking helpers:
  ``.faults`` (fault injection), ``.restart()``, ``.storage``, ``.wait_idle()``, ``.call(async_fn)``,
  ``.cluster`` (the ``LocalCluster``); tests needing it do ``if embedded_cluster is None: pytest.skip()``.
- ``api_client`` (session, async) -> a kubernetes-asyncio ``ApiClient`` for ``kubeconfig``.
- ``namespace`` (function) -> name of a fresh namespace, deleted (not waited for) after the test.
- ``kubectl`` (session) -> ``run(*args, input=None, check=True) -> CompletedProcess`` for the real kubectl.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.localcluster.cluster import ThreadedLocalCluster
from serving.registry import MISSING_REASON, REGISTRY_BINARY, RunningRegistry, start_registry

REPO = Path(__file__).resolve().parent.parent
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def _install_crds(threaded: ThreadedLocalCluster) -> None:
    from kaito.localcluster.apiserver.objects import WriteOptions

    server = threaded.cluster.server
    assert server is not None
    rtype = server.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert rtype is not None
    docs = [
        doc
        for path in sorted((REPO / "config" / "crd").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]

    async def create_all() -> None:
        assert server is not None
        assert rtype is not None
        for doc in docs:
            await server.service.create(rtype, None, doc, WriteOptions())

    threaded.call(create_all)


@pytest.fixture(scope="session")
def embedded_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedLocalCluster | None]:
    if os.environ.get("KAITO_TEST_KUBECONFIG"):
        yield None
        return
    threaded = ThreadedLocalCluster(
        tmp_path_factory.mktemp("localcluster"), persist=False, bookmark_interval=2.0
    )
    threaded.start()
    try:
        _install_crds(threaded)
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture(scope="session")
def kubeconfig(embedded_cluster: ThreadedLocalCluster | None) -> Path:
    if embedded_cluster is None:
        return Path(os.environ["KAITO_TEST_KUBECONFIG"])
    return embedded_cluster.kubeconfig_path


async def new_api_client(kubeconfig: Path) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return k8s.ApiClient(configuration=configuration)


@pytest.fixture(scope="session")
async def api_client(kubeconfig: Path) -> AsyncIterator[k8s.ApiClient]:
    api = await new_api_client(kubeconfig)
    yield api
    await api.close()


@pytest.fixture
async def namespace(api_client: k8s.ApiClient) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = k8s.CoreV1Api(api_client)
    await core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"kaito-test": "1"}))
    )
    yield name
    try:
        await core.delete_namespace(name)
    except k8s.ApiException as err:
        if err.status != 404:
            raise


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kubectl-home")
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home))

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


# A real OCI registry (Debian's docker-registry on 127.0.0.1), one plain and one with htpasswd auth, shared by
# the serving, tuning and weights tests.
@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if REGISTRY_BINARY is None:
        pytest.skip(MISSING_REASON)
    running = start_registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if REGISTRY_BINARY is None:
        pytest.skip(MISSING_REASON)
    running = start_registry(tmp_path_factory.mktemp("auth-registry"), "alice", "s3cret-pw")
    yield running
    running.stop()
