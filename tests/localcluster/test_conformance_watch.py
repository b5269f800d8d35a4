"""Watch: event order, resume from a resourceVersion, selector transitions, bookmarks, 410 + relist."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from kaito.localcluster.cluster import ThreadedLocalCluster


async def _stream(api: k8s.ApiClient, path: str, **query: Any) -> Any:
    params = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items()]
    return await api.call_api(
        path, "GET", query_params=params, _preload_content=False, auth_settings=["BearerToken"]
    )


async def read_events(response: Any, until: int, within: float = 20) -> list[dict[str, Any]]:
    """Read JSON lines from a watch response until ``until`` events or end of stream."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while len(events) < until:
            line = await response.content.readline()
            if not line:
                break
            events.append(json.loads(line))
    return events


def configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}


async def test_watch_resume_sees_every_change_in_order(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    start = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    await core.create_namespaced_config_map(namespace, configmap("w1"))
    await core.patch_namespaced_config_map("w1", namespace, {"data": {"v": "1"}})
    await core.delete_namespaced_config_map("w1", namespace)
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=start,
        timeoutSeconds=10,
    )
    events = await read_events(response, 3)
    response.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    assert versions[0] > int(start)
    assert events[1]["object"]["data"] == {"v": "1"}


async def test_label_selector_watch_sees_objects_enter_and_leave(
    api_client: k8s.ApiClient, namespace: str
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    start = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=start,
        labelSelector="team=a",
        timeoutSeconds=10,
    )
    await core.create_namespaced_config_map(namespace, configmap("x", team="b"))
    await core.patch_namespaced_config_map("x", namespace, {"metadata": {"labels": {"team": "a"}}})
    await core.patch_namespaced_config_map("x", namespace, {"metadata": {"labels": {"team": "c"}}})
    events = await read_events(response, 2)
    response.close()
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_send_initial_events_ends_with_annotated_bookmark(
    api_client: k8s.ApiClient, namespace: str
) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    for name in ("i1", "i2"):
        await core.create_namespaced_config_map(namespace, configmap(name))
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        sendInitialEvents=True,
        resourceVersionMatch="NotOlderThan",
        resourceVersion="",
        allowWatchBookmarks=True,
        timeoutSeconds=10,
    )
    events = await read_events(response, 3)
    response.close()
    names = sorted(e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED")
    assert names[-2:] == ["i1", "i2"]
    bookmark = events[-1]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_periodic_bookmarks(
    api_client: k8s.ApiClient, namespace: str, embedded_cluster: ThreadedLocalCluster | None
) -> None:
    if embedded_cluster is None:
        pytest.skip("bookmark frequency is a server setting (about a minute on kube-apiserver)")
    core: Any = k8s.CoreV1Api(api_client)
    start = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=start,
        allowWatchBookmarks=True,
        timeoutSeconds=30,
    )
    await core.create_namespaced_config_map(namespace, configmap("b1"))
    events = await read_events(response, 2)
    response.close()
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) >= int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )
    assert set(events[1]["object"]["metadata"]) == {"resourceVersion"}


async def test_expired_version_gets_410_then_relist_recovers(
    api_client: k8s.ApiClient, namespace: str, embedded_cluster: ThreadedLocalCluster | None
) -> None:
    if embedded_cluster is None:
        pytest.skip("needs the embedded cluster to compact its watch history")
    core: Any = k8s.CoreV1Api(api_client)
    old = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    await core.create_namespaced_config_map(namespace, configmap("e1"))
    embedded_cluster.faults.expire_history()
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=old,
        timeoutSeconds=10,
    )
    events = await read_events(response, 1)
    response.close()
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    relist = await core.list_namespaced_config_map(namespace)
    assert [i.metadata.name for i in relist.items] == ["e1"]
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=relist.metadata.resource_version,
        timeoutSeconds=10,
    )
    await core.create_namespaced_config_map(namespace, configmap("e2"))
    events = await read_events(response, 1)
    response.close()
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "e2"


async def test_forced_watch_expiry_and_dropped_watches(
    api_client: k8s.ApiClient, namespace: str, embedded_cluster: ThreadedLocalCluster | None
) -> None:
    if embedded_cluster is None:
        pytest.skip("fault injection needs the embedded cluster")
    core: Any = k8s.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    embedded_cluster.faults.expire_next_watch()
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=rv,
        timeoutSeconds=10,
    )
    assert (await read_events(response, 1))[0]["object"]["code"] == 410
    response.close()
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion=rv,
        timeoutSeconds=20,
    )
    await core.create_namespaced_config_map(namespace, configmap("d1"))
    assert (await read_events(response, 1))[0]["type"] == "ADDED"
    await asyncio.to_thread(embedded_cluster.faults.drop_watches)
    assert await read_events(response, 1) == []  # the stream ended
    response.close()


async def test_watch_timeout_ends_stream(api_client: k8s.ApiClient, namespace: str) -> None:
    response = await _stream(
        api_client,
        f"/api/v1/namespaces/{namespace}/configmaps",
        watch=True,
        resourceVersion="0",
        timeoutSeconds=1,
    )
    events = await read_events(response, 10, within=15)
    response.close()
    assert all(e["type"] in ("ADDED", "BOOKMARK") for e in events)
