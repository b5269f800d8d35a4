"""Informers against a cluster: list + watch, pagination, watch resume after restart, 410 relist, sharing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ApiError
from kaito.controllers.factory import InformerFactory
from kaito.controllers.informer import Informer
from kaito.controllers.objects import ObjectKey, resource_version_of
from kaito.controllers.resource import CONFIGMAPS

from .mirror import Mirror
from .waiting import wait_for_value, wait_until


def configmap(name: str, value: str = "0", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {"suite": "runtime"}}, "data": {"value": value}}


async def server_versions(kube: KubeClient, namespace: str) -> dict[ObjectKey, str]:
    listing = await kube.list(CONFIGMAPS, namespace, label_selector="suite=runtime")
    return {
        ObjectKey(namespace, item["metadata"]["name"]): resource_version_of(item) for item in listing["items"]
    }


async def converged(kube: KubeClient, namespace: str, mirror: Mirror, within: float = 15.0) -> None:
    """Wait until the mirror (built from events only) equals the server's view, object by object."""

    async def probe() -> tuple[dict[ObjectKey, str] | None, dict[ObjectKey, str]]:
        try:
            return await server_versions(kube, namespace), mirror.versions()
        except ApiError:  # an injected fault meant for the informer hit us instead
            return None, mirror.versions()

    await wait_for_value(probe, lambda pair: pair[0] == pair[1], within)
    assert mirror.problems == []


async def test_list_then_watch_delivers_every_change(kube: KubeClient, namespace: str) -> None:
    for i in range(7):
        await kube.create(CONFIGMAPS, configmap(f"pre-{i}"), namespace)
    informer = Informer(kube, CONFIGMAPS, namespace=namespace, label_selector="suite=runtime", page_size=3)
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        assert await informer.wait_for_sync(20)
        assert mirror.adds == 7  # three pages, one add each
        await kube.create(CONFIGMAPS, configmap("live"), namespace)
        await kube.patch(CONFIGMAPS, "pre-0", {"data": {"value": "1"}}, namespace=namespace)
        await kube.delete(CONFIGMAPS, "pre-1", namespace)
        await kube.create(CONFIGMAPS, configmap("other", labels={"suite": "else"}), namespace)
        await converged(kube, namespace, mirror)
        assert len(informer.store) == 7
        cached = informer.store.get(ObjectKey(namespace, "pre-0"))
        assert cached is not None
        assert cached["data"]["value"] == "1"
        assert cached["kind"] == "ConfigMap"  # list items get their kind filled in
        late = Mirror()
        informer.add_handler(late)  # a handler added after sync is replayed the cache
        assert late.adds == 7
    finally:
        await informer.stop()


async def test_watch_resumes_after_api_server_restart(
    kube: KubeClient, namespace: str, embedded_cluster: Any
) -> None:
    if embedded_cluster is None:
        pytest.skip("needs the embedded cluster to restart its API server")
    informer = Informer(kube, CONFIGMAPS, namespace=namespace, label_selector="suite=runtime")
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        await kube.create(CONFIGMAPS, configmap("before"), namespace)
        assert await informer.wait_for_sync(20)
        await wait_until(lambda: len(mirror.objects) == 1, 10)
        await asyncio.to_thread(embedded_cluster.restart)
        await kube.create(CONFIGMAPS, configmap("after"), namespace)
        await kube.patch(CONFIGMAPS, "before", {"data": {"value": "2"}}, namespace=namespace)
        await converged(kube, namespace, mirror, within=30)
        assert informer.watch_restarts + informer.relists >= 1
    finally:
        await informer.stop()


async def test_forced_410_relists_with_no_missed_update(
    kube: KubeClient, namespace: str, embedded_cluster: Any
) -> None:
    if embedded_cluster is None:
        pytest.skip("needs the embedded cluster's fault injection")
    for i in range(6):
        await kube.create(CONFIGMAPS, configmap(f"obj-{i}"), namespace)
    informer = Informer(kube, CONFIGMAPS, namespace=namespace, label_selector="suite=runtime")
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        assert await informer.wait_for_sync(20)
        relists = informer.relists
        faults = embedded_cluster.faults
        # Break the watch for a while: history gone (resume -> 410) and the next relists fail, so the
        # changes below all happen while the informer is blind.
        faults.fail_requests(503, 2, verb="list", resource="configmaps")
        faults.expire_history()
        faults.expire_next_watch(1)
        faults.drop_watches()
        await kube.create(CONFIGMAPS, configmap("born-blind"), namespace)
        await kube.patch(CONFIGMAPS, "obj-0", {"data": {"value": "changed"}}, namespace=namespace)
        await kube.patch(
            CONFIGMAPS, "obj-1", {"metadata": {"labels": {"suite": "moved-away"}}}, namespace=namespace
        )
        await kube.delete(CONFIGMAPS, "obj-2", namespace)
        await kube.create(CONFIGMAPS, configmap("short-lived"), namespace)
        await kube.delete(CONFIGMAPS, "short-lived", namespace)
        await converged(kube, namespace, mirror, within=30)
        assert informer.relists > relists
        changed = informer.store.get(ObjectKey(namespace, "obj-0"))
        assert changed is not None
        assert changed["data"]["value"] == "changed"
        assert ObjectKey(namespace, "obj-1") not in informer.store  # left the selector: seen as a delete
        assert ObjectKey(namespace, "short-lived") not in informer.store
    finally:
        faults.clear()
        await informer.stop()


async def test_shared_factory_hands_out_one_informer_per_key(kube: KubeClient, namespace: str) -> None:
    factory = InformerFactory(kube)
    first = factory.informer_for(CONFIGMAPS, namespace=namespace, label_selector="suite=runtime")
    assert factory.informer_for(CONFIGMAPS, namespace=namespace, label_selector="suite=runtime") is first
    assert factory.informer_for(CONFIGMAPS, namespace=namespace) is not first
    factory.start()
    try:
        assert await factory.wait_for_sync(20)
        assert factory.has_synced
    finally:
        await factory.stop()
