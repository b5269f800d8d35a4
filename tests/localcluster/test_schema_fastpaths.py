"""The API server's shortcuts keep kube semantics: a create's managedFields trie built in one walk, copy-on-
write pruning and defaulting, the Service clusterIP index, one JSON encoding per stored object."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.localcluster.apiserver.storage import Storage, encode_json
from kaito.localcluster.schema import apply_defaults, prune
from kaito.localcluster.schema.fieldset import field_values
from kaito.localcluster.schema.fieldtrie import fields_trie, trie_update
from kaito.localcluster.schema.strategic_meta import PatchField, meta_for

from .test_schema_validation import WORKSPACE

_KEYS = st.sampled_from(
    ["metadata", "labels", "name", "spec", "template", "containers", "ports", "containerPort", "env",
     "value", "finalizers", "resource", "count", "inference", "preset", "x"]
)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["a", "b", "ü"])
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=30,
)
_OBJECTS = st.dictionaries(_KEYS | st.sampled_from(["apiVersion", "kind", "status"]), _VALUES, max_size=5)
_CUSTOM = PatchField(
    fields={
        "spec": PatchField(
            fields={
                "containers": PatchField(strategy="merge", key="name"),
                "finalizers": PatchField(strategy="merge"),
            }
        )
    }
)
_METAS = st.sampled_from(
    [meta_for("Pod"), meta_for("StatefulSet"), meta_for("Service"), _CUSTOM, PatchField()]
)


@settings(max_examples=400, deadline=None)
@given(_OBJECTS, _METAS)
def test_create_trie_equals_inserting_every_field_path(obj: dict[str, Any], meta: PatchField) -> None:
    expected = trie_update({}, list(field_values(obj, meta)), ())
    built = fields_trie(obj, meta)
    assert json.dumps(built) == json.dumps(expected)  # same keys in the same order


def test_create_trie_of_list_map_items_owns_the_items() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "args": ["1"]}]}}
    assert fields_trie(pod, meta_for("Pod")) == {
        "f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}, "f:name": {}, "f:image": {}, "f:args": {}}}}
    }


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_prune_and_defaults_never_modify_their_input(obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    pruned = prune(WORKSPACE, obj)
    defaulted = apply_defaults(WORKSPACE, pruned)
    assert obj == before
    assert apply_defaults(WORKSPACE, prune(WORKSPACE, defaulted)) == defaulted


def test_unchanged_parts_are_shared_not_copied() -> None:
    obj = {"resource": {"count": 1, "labelSelector": {"matchLabels": {"a": "b"}}}, "unknown": 1}
    pruned = prune(WORKSPACE, obj)
    assert "unknown" not in pruned
    assert "unknown" in obj
    assert pruned["resource"] is obj["resource"]
    assert prune(WORKSPACE, pruned) is pruned


def service(name: str, ip: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": name}, "spec": {"clusterIP": ip}}


def test_cluster_ip_index_follows_puts_updates_and_removes() -> None:
    storage = Storage()
    key = ("", "services")
    storage.put(key, service("a", "10.0.0.2"), "ADDED")
    storage.put(key, service("b", "None"), "ADDED")
    storage.put(key, service("c", "None"), "ADDED")
    assert sorted(storage.cluster_ips()) == ["10.0.0.2", "None"]
    storage.put(key, service("a", "10.0.0.3"), "MODIFIED")
    storage.remove(key, "ns", "b")
    assert sorted(storage.cluster_ips()) == ["10.0.0.3", "None"]
    storage.remove(key, "ns", "c")
    storage.put(("", "configmaps"), service("d", "10.0.0.9"), "ADDED")  # not a Service
    assert list(storage.cluster_ips()) == ["10.0.0.3"]
    loaded = Storage()
    loaded.load(storage.dump())
    assert list(loaded.cluster_ips()) == ["10.0.0.3"]


def test_stored_objects_are_encoded_once() -> None:
    storage = Storage()
    obj = {"metadata": {"name": "a", "namespace": "ns", "uid": "u"}, "data": {"k": "ü"}}
    storage.put(("", "configmaps"), obj, "ADDED")
    first = encode_json(obj)
    assert json.loads(first) == obj
    assert encode_json(obj) is first
    fresh = copy.deepcopy(obj)  # not stored: encoded every time
    assert encode_json(fresh) == first
    assert encode_json(fresh) is not encode_json(fresh)
