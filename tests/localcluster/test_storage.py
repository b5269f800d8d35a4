"""Storage internals: the bounded history window behind 410 Gone, slow-watcher eviction, copy safety."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.localcluster.apiserver.storage import Storage
from kaito.localcluster.apiserver.watch import Watcher

KEY = ("", "configmaps")


def configmap(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "uid": str(uuid.uuid4())},
    }


def test_history_window_decides_between_resume_and_410() -> None:
    storage = Storage(history_size=5)
    for index in range(12):
        storage.put(KEY, configmap(f"c{index}"), "ADDED")
    assert storage.rv == 12
    resumable = storage.events_since(KEY, 7)
    assert resumable is not None
    assert [e.rv for e in resumable] == [8, 9, 10, 11, 12]
    assert storage.events_since(KEY, 6) is None  # event 7 fell out of the window
    storage.expire_history()
    assert storage.events_since(KEY, 11) is None
    assert storage.events_since(KEY, 12) == []


async def test_slow_watcher_is_closed_not_waited_for() -> None:
    storage = Storage()
    watcher = Watcher(KEY, None, (), (), max_queue=3)
    storage.add_watcher(watcher)
    for index in range(5):
        storage.put(KEY, configmap(f"c{index}"), "ADDED")
    assert watcher.closed
    assert watcher.pending[-1][0] == "CLOSE"
    assert storage.rv == 5  # writers went on


def test_readers_get_copies_and_deletes_carry_a_new_version() -> None:
    storage = Storage()
    storage.put(KEY, configmap("a"), "ADDED")
    copy = storage.copy_of(KEY, "ns", "a")
    assert copy is not None
    copy["metadata"]["name"] = "changed"
    stored = storage.get(KEY, "ns", "a")
    assert stored is not None
    assert stored["metadata"]["name"] == "a"
    event = storage.remove(KEY, "ns", "a")
    assert event is not None
    assert event.obj["metadata"]["resourceVersion"] == "2"
    assert storage.get(KEY, "ns", "a") is None
