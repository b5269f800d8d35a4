"""managedFields upkeep on updates: the incremental trie edits agree with a from-scratch reference model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.localcluster.schema import record_update
from kaito.localcluster.schema.fieldset import (
    ITEM,
    FieldSet,
    Path,
    field_values,
    from_fields_v1,
    to_fields_v1,
)
from kaito.localcluster.schema.jsonvalue import json_equal
from kaito.localcluster.schema.strategic_meta import meta_for

META = meta_for("Deployment")
leaves = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 3))


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    containers = []
    for name in draw(st.lists(st.sampled_from(["app", "side", "init"]), unique=True, max_size=3)):
        container: dict[str, Any] = {"name": name, "image": draw(leaves)}
        env = draw(st.lists(st.sampled_from(["X", "Y", "Z"]), unique=True, max_size=3))
        if env:
            container["env"] = [{"name": e, "value": draw(leaves)} for e in env]
        if draw(st.booleans()):
            container["args"] = draw(st.lists(leaves, max_size=2))
        containers.append(container)
    metadata: dict[str, Any] = {"name": "web", "resourceVersion": str(draw(st.integers(1, 9)))}
    labels = draw(st.dictionaries(st.sampled_from(["app", "tier", "team"]), leaves, max_size=3))
    if labels:
        metadata["labels"] = labels
    finalizers = draw(st.lists(st.sampled_from(["f1", "f2"]), unique=True, max_size=2))
    if finalizers:
        metadata["finalizers"] = finalizers
    spec: dict[str, Any] = {"template": {"spec": {"containers": containers}}}
    if draw(st.booleans()):
        spec["replicas"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        spec["strategy"] = draw(
            st.sampled_from([{"type": "Recreate"}, "scalar", {"type": "Rolling", "x": {"y": 1}}])
        )
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
    if draw(st.booleans()):
        obj["status"] = {
            "replicas": draw(st.integers(0, 3)),
            "conditions": [{"type": "Available", "status": "True"}],
        }
    return obj


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], FieldSet]:
    return {
        (entry["manager"], entry["operation"]): from_fields_v1(entry["fieldsV1"])
        for entry in obj["metadata"]["managedFields"]
    }


def reference(
    before: dict[tuple[str, str], FieldSet], old: dict[str, Any] | None, new: dict[str, Any], manager: str
) -> dict[tuple[str, str], FieldSet]:
    new_values = field_values(new, META)
    old_values = field_values(old, META) if old is not None else {}

    def same(left: Any, right: Any) -> bool:
        return left is right if ITEM in (left, right) else json_equal(left, right)

    changed = {p for p, v in new_values.items() if p not in old_values or not same(v, old_values[p])}
    gone = set(old_values) - set(new_values)
    result = {key: (paths - changed) - gone for key, paths in before.items() if key != (manager, "Update")}
    mine = (before.get((manager, "Update"), set()) - gone) | changed
    result[(manager, "Update")] = mine
    return {key: paths for key, paths in result.items() if paths}


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(deployments(), st.sampled_from(["kubectl", "controller", "kubelet"])),
        min_size=1,
        max_size=5,
    )
)
def test_incremental_ownership_matches_the_reference(history: list[tuple[dict[str, Any], str]]) -> None:
    live: dict[str, Any] | None = None
    expected: dict[tuple[str, str], FieldSet] = {}
    for version, manager in history:
        updated = record_update(live, version, manager, "Deployment")
        expected = reference(expected, live, version, manager)
        assert owners(updated) == expected
        owned: set[Path] = set().union(*expected.values()) if expected else set()
        assert owned <= set(field_values(version, META)), "every owned field exists in the object"
        for entry in updated["metadata"]["managedFields"]:
            decoded = from_fields_v1(entry["fieldsV1"])
            assert to_fields_v1(decoded) == entry["fieldsV1"], "the trie stays in canonical form"
        live = updated


def test_untouched_managers_keep_their_entries_and_status_writes_are_cheap() -> None:
    base: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1},
    }
    created = record_update(None, base, "kubectl", "Deployment")
    with_status = record_update(created, {**created, "status": {"replicas": 1}}, "controller", "Deployment")
    kubectl_entry = with_status["metadata"]["managedFields"][0]
    assert kubectl_entry is created["metadata"]["managedFields"][0]
    assert with_status["metadata"]["managedFields"][1]["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    unchanged = record_update(with_status, with_status, "controller", "Deployment")
    assert unchanged["metadata"]["managedFields"] == with_status["metadata"]["managedFields"]
