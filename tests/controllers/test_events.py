"""Event recorder: dedup within the window, coalescing of repeats, and the per-object spam filter."""

from __future__ import annotations

import copy
from typing import Any, cast

from kaito.controllers.client import KubeClient
from kaito.controllers.clock import FakeClock
from kaito.controllers.events import EventRecorder
from kaito.controllers.objects import FrozenDict
from kaito.controllers.resource import Resource

JSON = dict[str, Any]


class FakeEventsApi:
    """Records create/patch calls on Events, the only API the recorder uses."""

    def __init__(self) -> None:
        self.events: dict[str, JSON] = {}
        self.calls: list[str] = []

    async def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        self.calls.append("create")
        self.events[obj["metadata"]["name"]] = copy.deepcopy(obj)
        return obj

    async def patch(self, resource: Resource, name: str, patch: JSON, **kwargs: Any) -> JSON:
        self.calls.append("patch")
        self.events[name].update(patch)
        return self.events[name]


def workspace(name: str = "w", uid: str = "uid-1") -> FrozenDict:
    return FrozenDict(
        {
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": name, "namespace": "ns", "uid": uid},
        }
    )


def recorder(api: FakeEventsApi, clock: FakeClock, **kwargs: Any) -> EventRecorder:
    return EventRecorder(cast(KubeClient, api), "kaito-workspace", host="test", clock=clock, **kwargs)


async def test_same_event_in_window_bumps_count_instead_of_creating() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    events = recorder(api, clock)
    events.event(workspace(), "Warning", "QuotaExceeded", "no quota for Standard_NC6s_v3")
    await events.flush()
    clock.advance(30)
    events.event(workspace(), "Warning", "QuotaExceeded", "no quota for Standard_NC6s_v3")
    await events.flush()
    assert api.calls == ["create", "patch"]
    (event,) = api.events.values()
    assert event["count"] == 2
    assert event["involvedObject"]["uid"] == "uid-1"
    assert event["metadata"]["namespace"] == "ns"
    assert event["lastTimestamp"] > event["firstTimestamp"]
    clock.advance(601)  # outside the window: a fresh Event
    events.event(workspace(), "Warning", "QuotaExceeded", "no quota for Standard_NC6s_v3")
    await events.flush()
    assert api.calls == ["create", "patch", "create"]
    await events.close()


async def test_repeats_before_the_write_coalesce_into_one_call() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    events = recorder(api, clock)
    for _ in range(50):
        events.event(workspace(), "Normal", "Reconciled", "ok")
    await events.flush()
    assert api.calls == ["create"]
    assert next(iter(api.events.values()))["count"] == 50
    await events.close()


async def test_hot_loop_of_distinct_messages_is_rate_limited_per_object() -> None:
    api, clock = FakeEventsApi(), FakeClock()
    events = recorder(api, clock, burst=5, refill_seconds=60)
    for i in range(40):
        events.event(workspace(), "Warning", "Failed", f"attempt {i}")
        await events.flush()
    assert api.calls.count("create") == 5
    events.event(workspace("other", "uid-2"), "Warning", "Failed", "different object")  # its own bucket
    await events.flush()
    assert api.calls.count("create") == 6
    clock.advance(60)
    events.event(workspace(), "Warning", "Failed", "after refill")
    await events.flush()
    assert api.calls.count("create") == 7
    await events.close()
