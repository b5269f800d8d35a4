"""Predicates and mappers: which changes enqueue which keys."""

from __future__ import annotations

import copy
from typing import Any

from kaito.controllers.handlers import EnqueueHandler, enqueue_by_labels, enqueue_owner, enqueue_self
from kaito.controllers.objects import FrozenDict, ObjectKey
from kaito.controllers.predicates import (
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    ignore_status_only,
    labels_changed,
    resource_version_changed,
)


class Recording:
    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []

    def add(self, key: ObjectKey) -> None:
        self.keys.append(key)


def workspace(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "generation": 1,
            "resourceVersion": "10",
            "labels": {"a": "1"},
        },
        "resource": {"count": 1},
        "status": {"conditions": []},
    }
    for path, value in changes.items():
        target = base
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return base


def view(data: dict[str, Any]) -> FrozenDict:
    return FrozenDict(copy.deepcopy(data))


def test_generation_labels_annotations_and_rv_predicates() -> None:
    old = view(workspace())
    assert generation_changed().update(old, view(workspace(metadata__generation=2)))
    assert not generation_changed().update(old, view(workspace(status={"x": 1})))
    assert labels_changed().update(old, view(workspace(metadata__labels={"a": "2"})))
    assert not labels_changed().update(old, view(workspace(metadata__resourceVersion="11")))
    assert annotations_changed().update(old, view(workspace(metadata__annotations={"x": "y"})))
    assert not annotations_changed().update(old, old)
    assert resource_version_changed().update(old, view(workspace(metadata__resourceVersion="11")))
    assert not resource_version_changed().update(old, old)
    assert generation_changed().create(old)
    assert generation_changed().delete(old)


def test_ignore_status_only_passes_every_non_status_change() -> None:
    old = view(workspace())
    status_only = view(workspace(status={"conditions": [{"type": "Ready"}]}, metadata__resourceVersion="11"))
    assert not ignore_status_only().update(old, status_only)
    for change in (
        {"metadata__generation": 2},
        {"metadata__finalizers": ["kaito.sh/finalizer"]},
        {"metadata__deletionTimestamp": "2026-01-01T00:00:00Z"},
        {"metadata__labels": {"a": "2"}},
        {"resource": {"count": 2}},
    ):
        assert ignore_status_only().update(old, view(workspace(**change))), change


def test_any_of_and_all_of() -> None:
    old = view(workspace())
    new = view(workspace(metadata__labels={"a": "2"}))
    assert any_of(generation_changed(), labels_changed()).update(old, new)
    assert not all_of(generation_changed(), labels_changed()).update(old, new)


def test_enqueue_self_with_predicates() -> None:
    queue = Recording()
    handler = EnqueueHandler(queue, enqueue_self, [ignore_status_only()])
    old = view(workspace())
    handler.on_add(old)
    handler.on_update(old, view(workspace(status={"x": 1})))
    handler.on_update(old, view(workspace(metadata__generation=2)))
    handler.on_delete(old)
    assert queue.keys == [ObjectKey("ns", "w")] * 3


def test_enqueue_owner_matches_kind_group_and_controller_flag() -> None:
    mapper = enqueue_owner("Workspace", "kaito.sh")
    pod = view(
        {
            "metadata": {
                "name": "p",
                "namespace": "ns",
                "ownerReferences": [
                    {
                        "apiVersion": "kaito.sh/v1alpha1",
                        "kind": "Workspace",
                        "name": "w1",
                        "uid": "1",
                        "controller": True,
                    },
                    {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "name": "w2", "uid": "2"},
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Workspace",
                        "name": "w3",
                        "uid": "3",
                        "controller": True,
                    },
                ],
            }
        }
    )
    assert list(mapper(pod)) == [ObjectKey("ns", "w1")]
    assert list(enqueue_owner("Workspace", "kaito.sh", controller_only=False)(pod)) == [
        ObjectKey("ns", "w1"),
        ObjectKey("ns", "w2"),
    ]


def test_map_function_enqueues_both_old_and_new_targets() -> None:
    queue = Recording()
    mapper = enqueue_by_labels("kaito.sh/workspace", "kaito.sh/workspacenamespace")
    handler = EnqueueHandler(queue, mapper)
    node_old = view(
        {"metadata": {"name": "n", "labels": {"kaito.sh/workspace": "a", "kaito.sh/workspacenamespace": "x"}}}
    )
    node_new = view(
        {"metadata": {"name": "n", "labels": {"kaito.sh/workspace": "b", "kaito.sh/workspacenamespace": "x"}}}
    )
    handler.on_update(node_old, node_new)
    assert sorted(queue.keys) == [ObjectKey("x", "a"), ObjectKey("x", "b")]
    assert list(mapper(view({"metadata": {"name": "n"}}))) == []
