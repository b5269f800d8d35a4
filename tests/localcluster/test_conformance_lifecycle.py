"""Deletion: finalizers, ownerReference garbage collection (all three policies), namespace lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    """Poll ``check`` until it holds; the API has no event to wait on for "the GC got to it"."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def exists(read: Callable[[], Awaitable[Any]]) -> bool:
    try:
        await read()
    except k8s.ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def owned(name: str, owner: Any, block: bool = False) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": block,
    }
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


async def test_finalizer_defers_removal(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "f", "finalizers": ["test/hold"]}}
    )
    await core.delete_namespaced_config_map("f", namespace)
    held = await core.read_namespaced_config_map("f", namespace)
    assert held.metadata.deletion_timestamp is not None
    with_new = {"metadata": {"finalizers": ["test/hold", "test/another"]}}
    with pytest.raises(k8s.ApiException) as refused:  # no new finalizers once deletion started
        await core.patch_namespaced_config_map("f", namespace, with_new)
    assert refused.value.status == 422
    await core.patch_namespaced_config_map("f", namespace, {"metadata": {"finalizers": None}})
    assert not await exists(lambda: core.read_namespaced_config_map("f", namespace))


async def test_background_gc_deletes_dependents(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    await core.create_namespaced_config_map(namespace, owned("child", owner))
    await core.delete_namespaced_config_map("owner", namespace)
    await eventually(lambda: _absent(core, namespace, "child"))


async def _absent(core: Any, namespace: str, name: str) -> bool:
    return not await exists(lambda: core.read_namespaced_config_map(name, namespace))


async def test_foreground_waits_for_blocking_dependents(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "fg"}})
    child = owned("fg-child", owner, block=True)
    child["metadata"]["finalizers"] = ["test/hold"]
    await core.create_namespaced_config_map(namespace, child)
    await core.delete_namespaced_config_map("fg", namespace, propagation_policy="Foreground")
    deleting = await core.read_namespaced_config_map("fg", namespace)
    assert "foregroundDeletion" in deleting.metadata.finalizers
    await eventually(lambda: _terminating(core, namespace, "fg-child"))
    assert await exists(lambda: core.read_namespaced_config_map("fg", namespace))
    await core.patch_namespaced_config_map("fg-child", namespace, {"metadata": {"finalizers": None}})
    await eventually(lambda: _absent(core, namespace, "fg"))


async def _terminating(core: Any, namespace: str, name: str) -> bool:
    obj = await core.read_namespaced_config_map(name, namespace)
    return obj.metadata.deletion_timestamp is not None


async def test_orphan_keeps_dependents(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "orph"}})
    await core.create_namespaced_config_map(namespace, owned("orph-child", owner))
    await core.delete_namespaced_config_map("orph", namespace, propagation_policy="Orphan")
    await eventually(lambda: _absent(core, namespace, "orph"))
    child = await core.read_namespaced_config_map("orph-child", namespace)
    assert not child.metadata.owner_references


async def test_dangling_owner_reference_is_collected(api_client: k8s.ApiClient, namespace: str) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    ghost = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="ghost", uid=str(uuid.uuid4())))
    await core.create_namespaced_config_map(namespace, owned("orphaned", ghost))
    await eventually(lambda: _absent(core, namespace, "orphaned"))


async def test_namespace_deletion_removes_contents(api_client: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    name = f"t-ns-{uuid.uuid4().hex[:8]}"
    await core.create_namespace({"metadata": {"name": name}})
    await core.create_namespaced_config_map(
        name, {"metadata": {"name": "inside", "finalizers": ["test/hold"]}}
    )
    await core.delete_namespace(name)
    ns = await core.read_namespace(name)
    assert ns.status.phase == "Terminating"
    with pytest.raises(k8s.ApiException) as forbidden:
        await core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    assert forbidden.value.status == 403
    await eventually(lambda: _terminating(core, name, "inside"))
    await core.patch_namespaced_config_map("inside", name, {"metadata": {"finalizers": None}})
    await eventually(lambda: _namespace_gone(core, name), within=60)


async def _namespace_gone(core: Any, name: str) -> bool:
    return not await exists(lambda: core.read_namespace(name))


async def test_missing_namespace_is_404(api_client: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    with pytest.raises(k8s.ApiException) as missing:
        await core.create_namespaced_config_map("does-not-exist-ns", {"metadata": {"name": "x"}})
    assert missing.value.status == 404


async def test_status_subresource_on_builtin(api_client: k8s.ApiClient, namespace: str) -> None:
    apps: Any = k8s.AppsV1Api(api_client)
    body = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
        "status": {"replicas": 9},
    }
    created = await apps.create_namespaced_deployment(namespace, body)
    assert not created.status.replicas  # a create cannot set status
    await apps.patch_namespaced_deployment_status("d", namespace, {"status": {"readyReplicas": 1}})
    spec_change = await apps.patch_namespaced_deployment("d", namespace, {"status": {"readyReplicas": 5}})
    assert spec_change.status.ready_replicas == 1


async def test_system_namespaces_cannot_be_deleted(api_client: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(api_client)
    for name in ("default", "kube-system"):
        with pytest.raises(k8s.ApiException) as refused:
            await core.delete_namespace(name)
        assert refused.value.status == 403


async def test_deleting_a_crd_deletes_its_objects(api_client: k8s.ApiClient, namespace: str) -> None:
    ext: Any = k8s.ApiextensionsV1Api(api_client)
    custom: Any = k8s.CustomObjectsApi(api_client)
    group = f"t{uuid.uuid4().hex[:6]}.kaito.sh"
    crd = {
        "metadata": {"name": f"things.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    await ext.create_custom_resource_definition(crd)

    async def served() -> bool:
        try:
            await custom.list_namespaced_custom_object(group, "v1", namespace, "things")
        except k8s.ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    await eventually(served)
    await custom.create_namespaced_custom_object(
        group,
        "v1",
        namespace,
        "things",
        {"apiVersion": f"{group}/v1", "kind": "Thing", "metadata": {"name": "one"}, "data": {"x": 1}},
    )
    await ext.delete_custom_resource_definition(f"things.{group}")
    await eventually(lambda: _crd_gone(ext, f"things.{group}"), within=60)
    assert not await served()


async def _crd_gone(ext: Any, name: str) -> bool:
    return not await exists(lambda: ext.read_custom_resource_definition(name))
