"""kubernetes-asyncio's dynamic client and its Watch helper work against the cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import watch
from kubernetes_asyncio.dynamic import DynamicClient

from .crds import GROUP, gadget, install_gadget_crd


async def test_dynamic_client_crud_on_builtin_and_custom(api_client: k8s.ApiClient, namespace: str) -> None:
    await install_gadget_crd(api_client)
    dynamic = await DynamicClient(api_client)
    configmaps = await dynamic.resources.get(api_version="v1", kind="ConfigMap")
    await configmaps.create(body={"metadata": {"name": "dyn"}, "data": {"a": "1"}}, namespace=namespace)
    got = await configmaps.get(name="dyn", namespace=namespace)
    assert got.data.a == "1"
    gadgets = await dynamic.resources.get(api_version=f"{GROUP}/v1", kind="Gadget")
    await gadgets.create(body=gadget("dyn", size="small"), namespace=namespace)
    listed = await gadgets.get(namespace=namespace)
    assert "dyn" in [item.metadata.name for item in listed.items]
    await gadgets.delete(name="dyn", namespace=namespace)


async def test_watch_helper_streams_typed_events(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    rv = (await core.list_namespaced_config_map(namespace)).metadata.resource_version
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=20
            ):
                seen.append((event["type"], event["object"].metadata.name))
                if len(seen) == 2:
                    return

    task = asyncio.create_task(consume())
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "w"}})
    await core.delete_namespaced_config_map("w", namespace)
    await asyncio.wait_for(task, 30)
    assert seen == [("ADDED", "w"), ("DELETED", "w")]
