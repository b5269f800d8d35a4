"""Raw-dict client against a cluster: CRUD, patch flavours, status conflict retry, finalizers, Events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.controllers.client import JSON, KubeClient, PatchType
from kaito.controllers.errors import ConflictError, NotFoundError, is_already_exists
from kaito.controllers.events import EventRecorder
from kaito.controllers.objects import FrozenDict
from kaito.controllers.ownership import (
    add_finalizer,
    has_finalizer,
    remove_finalizer,
    set_controller_reference,
)
from kaito.controllers.resource import CONFIGMAPS, EVENTS, Resource

from .waiting import wait_for_value


def widget(name: str, size: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"size": size}}


async def test_crud_and_patch_flavours(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(CONFIGMAPS, {"metadata": {"name": "cm"}, "data": {"a": "1"}}, namespace)
    assert created["metadata"]["uid"]
    with pytest.raises(ConflictError) as duplicate:
        await kube.create(CONFIGMAPS, {"metadata": {"name": "cm"}}, namespace)
    assert is_already_exists(duplicate.value)
    merged = await kube.patch(CONFIGMAPS, "cm", {"data": {"b": "2"}}, namespace=namespace)
    assert merged["data"] == {"a": "1", "b": "2"}
    patched = await kube.patch(
        CONFIGMAPS,
        "cm",
        [{"op": "remove", "path": "/data/a"}],
        namespace=namespace,
        patch_type=PatchType.JSON,
    )
    assert patched["data"] == {"b": "2"}
    applied = await kube.apply(
        CONFIGMAPS, {"metadata": {"name": "applied", "namespace": namespace}, "data": {"x": "y"}}
    )
    assert applied["data"] == {"x": "y"}
    stale = dict(created)
    with pytest.raises(ConflictError):
        await kube.update(CONFIGMAPS, stale)  # its resourceVersion is old
    await kube.delete(CONFIGMAPS, "cm", namespace)
    with pytest.raises(NotFoundError):
        await kube.get(CONFIGMAPS, "cm", namespace)


async def test_status_write_retries_on_conflict(kube: KubeClient, namespace: str, widgets: Resource) -> None:
    await kube.create(widgets, widget("w"), namespace)
    stale = FrozenDict(await kube.get(widgets, "w", namespace))
    await kube.patch(
        widgets, "w", {"spec": {"size": 2}}, namespace=namespace
    )  # someone else writes meanwhile
    attempts: list[int] = []

    def set_observed(obj: JSON) -> bool:
        attempts.append(obj["spec"]["size"])
        obj["status"] = {"observedSize": obj["spec"]["size"]}
        return True

    result = await kube.mutate_status(widgets, namespace, "w", set_observed, current=stale)
    assert attempts == [1, 2]  # the stale copy conflicted, the re-read one went through
    assert result["status"] == {"observedSize": 2}
    assert result["spec"] == {"size": 2}  # /status does not write spec
    unchanged = await kube.mutate_status(widgets, namespace, "w", lambda obj: False)
    assert unchanged["metadata"]["resourceVersion"] == result["metadata"]["resourceVersion"]


async def test_concurrent_status_writers_all_land(
    kube: KubeClient, namespace: str, widgets: Resource
) -> None:
    await kube.create(widgets, widget("counter"), namespace)

    def bump(obj: JSON) -> bool:
        status = obj.setdefault("status", {})
        status["count"] = status.get("count", 0) + 1
        return True

    await asyncio.gather(*(kube.mutate_status(widgets, namespace, "counter", bump) for _ in range(6)))
    final = await kube.get(widgets, "counter", namespace)
    assert final["status"]["count"] == 6


async def test_finalizers_and_owner_references(kube: KubeClient, namespace: str, widgets: Resource) -> None:
    owner = FrozenDict(await kube.create(widgets, widget("owner"), namespace))
    child: JSON = {"metadata": {"name": "child", "namespace": namespace}, "data": {}}
    set_controller_reference(child, owner)
    created = await kube.create(CONFIGMAPS, child, namespace)
    (ref,) = created["metadata"]["ownerReferences"]
    assert ref["kind"] == "Widget"
    assert ref["uid"] == owner["metadata"]["uid"]
    assert ref["controller"] is True
    with pytest.raises(ValueError, match="already controlled"):
        set_controller_reference(
            child, FrozenDict({**owner.thaw(), "metadata": {"name": "x", "uid": "other"}})
        )

    stale = owner  # a cached copy; the first write below makes it stale
    with_finalizer = await add_finalizer(kube, widgets, stale, "kaito.sh/test")
    assert has_finalizer(FrozenDict(with_finalizer), "kaito.sh/test")
    again = await add_finalizer(kube, widgets, stale, "kaito.sh/test")  # conflict, re-read, already there
    assert again["metadata"]["finalizers"] == ["kaito.sh/test"]
    await kube.delete(widgets, "owner", namespace)
    terminating = await kube.get(widgets, "owner", namespace)
    assert terminating["metadata"].get("deletionTimestamp")
    await remove_finalizer(kube, widgets, FrozenDict(terminating), "kaito.sh/test")

    async def gone() -> bool:
        try:
            await kube.get(widgets, "owner", namespace)
        except NotFoundError:
            return True
        return False

    await wait_for_value(gone, bool, 10)


async def test_event_recorder_deduplicates_on_the_server(kube: KubeClient, namespace: str) -> None:
    obj = FrozenDict(await kube.create(CONFIGMAPS, {"metadata": {"name": "evented"}}, namespace))
    recorder = EventRecorder(kube, "kaito-test")
    recorder.event(obj, "Warning", "QuotaExceeded", "no quota left")
    await recorder.flush()
    recorder.event(obj, "Warning", "QuotaExceeded", "no quota left")
    recorder.event(obj, "Normal", "Provisioned", "node ready")
    await recorder.flush()
    await recorder.close()
    events = (await kube.list(EVENTS, namespace))["items"]
    by_reason = {e["reason"]: e for e in events if e["involvedObject"]["name"] == "evented"}
    assert set(by_reason) == {"QuotaExceeded", "Provisioned"}
    assert by_reason["QuotaExceeded"]["count"] == 2
    assert by_reason["QuotaExceeded"]["type"] == "Warning"
    assert by_reason["QuotaExceeded"]["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert by_reason["Provisioned"]["count"] == 1
