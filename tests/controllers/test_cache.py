"""Store indexes (namespace, owner UID, labels, custom), selector queries, and copy-safety of readers."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.controllers.cache import Store
from kaito.controllers.labels import selector_matches, selector_to_string
from kaito.controllers.objects import FrozenDict, Obj, ObjectKey, thaw


def obj(
    name: str, namespace: str = "ns", labels: dict[str, str] | None = None, owner: str = ""
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels or {},
        "resourceVersion": "1",
    }
    if owner:
        metadata["ownerReferences"] = [{"kind": "Workspace", "name": "w", "uid": owner, "controller": True}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": ["v1", {"deep": 1}]}}


def test_get_and_namespace_listing() -> None:
    store = Store()
    store.upsert(obj("a", "one"))
    store.upsert(obj("b", "one"))
    store.upsert(obj("c", "two"))
    assert len(store) == 3
    assert [o["metadata"]["name"] for o in store.objects("one")] == ["a", "b"]
    assert store.get(ObjectKey("two", "c")) is not None
    assert store.get(ObjectKey("one", "c")) is None
    assert ObjectKey("one", "a") in store


def test_owner_index_follows_updates_and_deletes() -> None:
    store = Store()
    store.upsert(obj("a", owner="uid-1"))
    store.upsert(obj("b", owner="uid-1"))
    store.upsert(obj("c", owner="uid-2"))
    assert [o["metadata"]["name"] for o in store.by_owner_uid("uid-1")] == ["a", "b"]
    store.upsert(obj("b", owner="uid-2"))  # re-owned
    assert [o["metadata"]["name"] for o in store.by_owner_uid("uid-1")] == ["a"]
    assert [o["metadata"]["name"] for o in store.by_owner_uid("uid-2")] == ["b", "c"]
    store.remove(ObjectKey("ns", "a"))
    assert store.by_owner_uid("uid-1") == []
    assert "uid-1" not in store.index_values("owner-uid")


def test_label_selector_queries_use_the_label_index() -> None:
    store = Store()
    store.upsert(obj("gpu-1", labels={"apps": "phi-3", "sku": "gpu"}))
    store.upsert(obj("gpu-2", labels={"apps": "phi-3"}))
    store.upsert(obj("cpu-1", labels={"apps": "other"}))
    selector = {"matchLabels": {"apps": "phi-3"}}
    assert [o["metadata"]["name"] for o in store.select(selector)] == ["gpu-1", "gpu-2"]
    with_expression = {
        "matchLabels": {"apps": "phi-3"},
        "matchExpressions": [{"key": "sku", "operator": "Exists"}],
    }
    assert [o["metadata"]["name"] for o in store.select(with_expression)] == ["gpu-1"]
    assert store.select({"matchLabels": {"apps": "missing"}}) == []
    assert len(store.select(None)) == 3
    assert store.select(selector, namespace="elsewhere") == []


def test_custom_index_is_built_over_existing_objects() -> None:
    store = Store()
    store.upsert(obj("a", labels={"tier": "x"}))

    def by_tier(o: Obj) -> list[str]:
        return [o["metadata"]["labels"].get("tier", "none")]

    store.add_indexer("tier", by_tier)
    store.upsert(obj("b"))
    assert [o["metadata"]["name"] for o in store.by_index("tier", "x")] == ["a"]
    assert [o["metadata"]["name"] for o in store.by_index("tier", "none")] == ["b"]
    store.add_indexer("tier", by_tier)  # idempotent
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("tier", lambda o: [])
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_readers_cannot_corrupt_the_cache() -> None:
    store = Store()
    store.upsert(obj("a"))
    view = store.get(ObjectKey("ns", "a"))
    assert isinstance(view, FrozenDict)
    with pytest.raises(TypeError):
        view["metadata"]["name"] = "evil"
    with pytest.raises(AttributeError):
        view["data"]["k"].append("x")
    mutable = view.thaw()
    mutable["metadata"]["name"] = "changed"
    mutable["data"]["k"][1]["deep"] = 2
    again = store.get(ObjectKey("ns", "a"))
    assert again is not None
    assert again["metadata"]["name"] == "a"
    assert again["data"]["k"][1]["deep"] == 1
    assert again == view
    assert again == thaw(view)
    assert list(again["data"]["k"]) == ["v1", {"deep": 1}]
    assert again["data"]["k"][0:1] == ["v1"]


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "a", "operator": "In", "values": ["1", "2"]}, {"a": "2"}, True),
        ({"key": "a", "operator": "In", "values": ["1"]}, {}, False),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {"a": "2"}, True),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {"a": "1"}, False),
        ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
        ({"key": "a", "operator": "DoesNotExist"}, {"a": ""}, False),
    ],
)
def test_selector_expressions(expression: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches({"matchExpressions": [expression]}, labels) is expected


def test_selector_to_string() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["y", "x"]},
            {"key": "d", "operator": "Exists"},
        ],
    }
    assert selector_to_string(selector) == "a=1,b=2,c in (x,y),d"
    with pytest.raises(ValueError, match="operator"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {})
