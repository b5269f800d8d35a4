"""Informer logic on a scripted API (no server): pagination, bookmarks, 410 relist diff, resync, errors."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator
from typing import Any, cast

from kaito.controllers.client import KubeClient
from kaito.controllers.clock import FakeClock
from kaito.controllers.errors import ApiError
from kaito.controllers.informer import Informer
from kaito.controllers.objects import ObjectKey
from kaito.controllers.resource import CONFIGMAPS, Resource

from .mirror import Mirror
from .waiting import wait_until

JSON = dict[str, Any]
END = {"type": "__end__"}


class ScriptedApi:
    """Serves lists from ``objects`` and watch events that the test pushes, one queue per watch call."""

    def __init__(self) -> None:
        self.objects: dict[str, JSON] = {}
        self.rv = 0
        self.list_calls: list[JSON] = []
        self.watch_calls: list[str] = []
        self.watches: asyncio.Queue[asyncio.Queue[JSON]] = asyncio.Queue()
        self.fail_lists = 0

    def put(self, name: str, value: str) -> JSON:
        self.rv += 1
        obj = {
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(self.rv)},
            "data": {"v": value},
        }
        self.objects[name] = obj
        return copy.deepcopy(obj)

    def remove(self, name: str) -> JSON:
        self.rv += 1
        return self.objects.pop(name)

    async def list(self, resource: Resource, namespace: str | None = None, **query: Any) -> JSON:
        self.list_calls.append(query)
        if self.fail_lists:
            self.fail_lists -= 1
            raise ApiError(500, "InternalError", "scripted failure")
        names = sorted(self.objects)
        start = int(query.get("continue_token") or 0)
        limit = query.get("limit") or len(names)
        page = names[start : start + limit]
        more = start + limit < len(names)
        return {
            "items": [copy.deepcopy(self.objects[n]) for n in page],
            "metadata": {"resourceVersion": str(self.rv), "continue": str(start + limit) if more else ""},
        }

    async def watch(
        self, resource: Resource, namespace: str | None = None, **query: Any
    ) -> AsyncGenerator[JSON]:
        self.watch_calls.append(query["resource_version"])
        events: asyncio.Queue[JSON] = asyncio.Queue()
        await self.watches.put(events)
        while (event := await events.get()) is not END:
            yield event

    async def next_watch(self) -> asyncio.Queue[JSON]:
        return await asyncio.wait_for(self.watches.get(), 5)


def informer_for(api: ScriptedApi, **kwargs: Any) -> Informer:
    return Informer(cast(KubeClient, api), CONFIGMAPS, namespace="ns", **kwargs)


async def test_paginated_list_then_bookmarks_move_the_resume_point() -> None:
    api = ScriptedApi()
    for i in range(5):
        api.put(f"o{i}", "x")
    informer = informer_for(api, page_size=2)
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        watch = await api.next_watch()
        assert [q.get("continue_token") for q in api.list_calls] == ["", "2", "4"]
        assert mirror.adds == 5
        assert api.watch_calls == ["5"]
        await watch.put({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}})
        await watch.put(END)  # the server closes the watch; the informer resumes from the bookmark
        await api.next_watch()
        assert api.watch_calls == ["5", "42"]
        assert len(api.list_calls) == 3  # no relist for a normal resume
    finally:
        await informer.stop()


async def test_410_relists_and_replays_only_the_difference() -> None:
    api = ScriptedApi()
    for name in ("keep", "change", "drop"):
        api.put(name, "1")
    informer = informer_for(api)
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        watch = await api.next_watch()
        # While the watch is blind: one change, one delete, one create.
        api.put("change", "2")
        api.remove("drop")
        api.put("new", "1")
        await watch.put({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})
        await api.next_watch()
        assert informer.relists == 1
        assert (mirror.adds, mirror.updates, mirror.deletes) == (4, 1, 1)
        assert sorted(k.name for k in mirror.objects) == ["change", "keep", "new"]
        assert mirror.problems == []
        changed = informer.store.get(ObjectKey("ns", "change"))
        assert changed is not None
        assert changed["data"]["v"] == "2"
    finally:
        await informer.stop()


async def test_list_errors_back_off_and_retry() -> None:
    clock = FakeClock()
    api = ScriptedApi()
    api.put("a", "1")
    api.fail_lists = 2
    informer = informer_for(api, clock=clock)
    informer.start()
    try:
        await wait_until(lambda: len(api.list_calls) == 1)
        assert not informer.has_synced
        clock.advance(1.7)  # first backoff: 0.8 s × (1 + up to 100 % jitter)
        await wait_until(lambda: len(api.list_calls) == 2)
        clock.advance(3.3)  # second: 1.6 s × jitter
        await wait_until(lambda: informer.has_synced)
        assert informer.watch_restarts == 2
    finally:
        await informer.stop()


async def test_resync_redelivers_every_cached_object() -> None:
    clock = FakeClock()
    api = ScriptedApi()
    api.put("a", "1")
    api.put("b", "1")
    informer = informer_for(api, clock=clock, resync_period=30)
    seen: list[tuple[str, str]] = []

    class Handler:
        def on_add(self, obj: Any) -> None:
            seen.append(("add", obj["metadata"]["name"]))

        def on_update(self, old: Any, new: Any) -> None:
            assert old == new
            seen.append(("resync", new["metadata"]["name"]))

        def on_delete(self, obj: Any) -> None:
            raise AssertionError("no deletes here")

    informer.add_handler(Handler())
    informer.start()
    try:
        await api.next_watch()
        assert seen == [("add", "a"), ("add", "b")]
        clock.advance(30)
        await wait_until(lambda: len(seen) == 4)
        assert sorted(seen[2:]) == [("resync", "a"), ("resync", "b")]
    finally:
        await informer.stop()


async def test_a_failing_handler_does_not_stop_the_others() -> None:
    api = ScriptedApi()
    api.put("a", "1")
    informer = informer_for(api)

    class Broken:
        def on_add(self, obj: Any) -> None:
            raise RuntimeError("handler bug")

        def on_update(self, old: Any, new: Any) -> None: ...

        def on_delete(self, obj: Any) -> None: ...

    mirror = Mirror()
    informer.add_handler(Broken())
    informer.add_handler(mirror)
    informer.start()
    try:
        await api.next_watch()
        assert mirror.adds == 1
    finally:
        await informer.stop()


async def test_managed_fields_are_not_cached_unless_asked_for() -> None:
    api = ScriptedApi()
    api.put("a", "1")
    api.objects["a"]["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]
    stripped, kept = informer_for(api), informer_for(api, transform=None)
    for informer in (stripped, kept):
        informer.start()
        await api.next_watch()
    try:
        cached = stripped.store.get(ObjectKey("ns", "a"))
        assert cached is not None
        assert "managedFields" not in cached["metadata"]
        verbatim = kept.store.get(ObjectKey("ns", "a"))
        assert verbatim is not None
        assert verbatim["metadata"]["managedFields"][0]["manager"] == "kubectl"
    finally:
        await stripped.stop()
        await kept.stop()
