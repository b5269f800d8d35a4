"""Fault injection, restart and persistence of the embedded API server (skipped on a real cluster)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from kaito.localcluster.cluster import ThreadedLocalCluster

from .test_conformance_watch import _stream, read_events


@pytest.fixture
def faults_cluster(embedded_cluster: ThreadedLocalCluster | None) -> Iterator[ThreadedLocalCluster]:
    if embedded_cluster is None:
        pytest.skip("fault injection needs the embedded cluster")
    yield embedded_cluster
    embedded_cluster.faults.clear()


async def test_fail_next_requests_matching_verb_and_resource(
    api_client: k8s.ApiClient, namespace: str, faults_cluster: ThreadedLocalCluster
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    faults_cluster.faults.fail_requests(500, 2, verb="list", resource="configmaps")
    await core.list_namespaced_secret(namespace)  # other resources are untouched
    for _ in range(2):
        with pytest.raises(k8s.ApiException) as err:
            await core.list_namespaced_config_map(namespace)
        assert err.value.status == 500
        assert json.loads(err.value.body or b"{}")["reason"] == "InternalError"
    await core.list_namespaced_config_map(namespace)


async def test_fail_nth_create_with_conflict_and_429(
    api_client: k8s.ApiClient, namespace: str, faults_cluster: ThreadedLocalCluster
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    faults_cluster.faults.fail_nth(2, 409, verb="create", resource="configmaps")
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "n1"}})
    with pytest.raises(k8s.ApiException) as conflict:
        await core.create_namespaced_config_map(namespace, {"metadata": {"name": "n2"}})
    assert conflict.value.status == 409
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "n3"}})
    faults_cluster.faults.fail_requests(429, verb="get")
    with pytest.raises(k8s.ApiException) as throttled:
        await core.read_namespaced_config_map("n1", namespace)
    assert throttled.value.status == 429
    headers: Any = throttled.value.headers
    assert headers["Retry-After"] == "1"
    assert faults_cluster.faults.injected >= 2


async def test_latency(
    api_client: k8s.ApiClient, namespace: str, faults_cluster: ThreadedLocalCluster
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    faults_cluster.faults.add_latency(0.3, verb="list", resource="configmaps")
    started = time.monotonic()
    await core.list_namespaced_config_map(namespace)
    assert time.monotonic() - started >= 0.3


async def test_restart_keeps_data_and_history(
    api_client: k8s.ApiClient, namespace: str, faults_cluster: ThreadedLocalCluster
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    before = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "kept"}})
    url = faults_cluster.url
    faults_cluster.restart()
    assert faults_cluster.url == url
    after = await core.read_namespaced_config_map("kept", namespace)
    assert after.metadata.uid == before.metadata.uid
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=int(before.metadata.resource_version) - 1,
        timeoutSeconds=10,
    )
    events = await read_events(response, 1)
    response.close()
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "kept"


async def test_snapshot_persists_across_processes(tmp_path: Path) -> None:
    first = ThreadedLocalCluster(tmp_path, persist=True)
    first.start()
    api = k8s.ApiClient(k8s.Configuration(host=first.url))
    try:
        core: Any = k8s.CoreV1Api(api)
        made = await core.create_namespaced_config_map("default", {"metadata": {"name": "durable"}})
    finally:
        first.stop()
    assert (tmp_path / "apiserver-state.json").exists()
    second = ThreadedLocalCluster(tmp_path, persist=True)
    second.start()
    try:
        api.configuration.host = second.url
        core = k8s.CoreV1Api(api)
        got = await core.read_namespaced_config_map("durable", "default")
        assert got.metadata.uid == made.metadata.uid
        fresh = await core.create_namespaced_config_map("default", {"metadata": {"name": "later"}})
        assert int(fresh.metadata.resource_version) > int(made.metadata.resource_version)
        older = int(made.metadata.resource_version) - 1  # history before the snapshot is gone
        response = await _stream(
            api, "/api/v1/namespaces/default/configmaps", watch=True, resourceVersion=older, timeoutSeconds=5
        )
        events = await read_events(response, 1)
        response.close()
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
    finally:
        await api.close()
        second.stop()
