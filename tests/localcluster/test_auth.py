"""Bearer-token auth: with a token the embedded server speaks HTTPS and rejects requests without it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from kaito.localcluster.cluster import ThreadedLocalCluster

KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"


@pytest.fixture
def secured(tmp_path: Path, embedded_cluster: ThreadedLocalCluster | None) -> Any:
    if embedded_cluster is None:
        pytest.skip("auth settings of a real cluster are not under test")
    threaded = ThreadedLocalCluster(tmp_path, token="s3cret-token", persist=False)
    threaded.start()
    yield threaded
    threaded.stop()


async def test_token_required_over_tls(secured: ThreadedLocalCluster, tmp_path: Path) -> None:
    assert secured.url.startswith("https://127.0.0.1:")
    env = dict(os.environ, KUBECONFIG=str(secured.kubeconfig_path), HOME=str(tmp_path))
    ok = await asyncio.to_thread(
        subprocess.run, [str(KUBECTL), "get", "ns"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert "kube-system" in ok.stdout
    configuration = k8s.Configuration(host=secured.url)
    configuration.verify_ssl = False
    anonymous = k8s.ApiClient(configuration)
    try:
        with pytest.raises(k8s.ApiException) as denied:
            await k8s.CoreV1Api(anonymous).list_namespace()
        assert denied.value.status == 401
        version: Any = await k8s.VersionApi(anonymous).get_code()  # /version stays public
        assert version.major == "1"
    finally:
        await anonymous.close()
