"""Server-side apply: managedFields, conflicts between managers, force, removal of dropped fields."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.localcluster.schema import ApplyConflict, record_update, server_side_apply
from kaito.localcluster.schema.fieldset import fields_of, from_fields_v1, to_fields_v1
from kaito.localcluster.schema.strategic_meta import meta_for


def config(
    replicas: int | None = 2, image: str = "app:1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels if labels is not None else {"app": "web"}},
        "spec": spec,
    }


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


def test_create_records_fields_in_fields_v1_format() -> None:
    live = server_side_apply(None, config(), "kubectl", False, "Deployment")
    assert live["spec"]["replicas"] == 2
    (entry,) = live["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl"
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}}
            },
        },
    }


def test_second_manager_conflicts_on_a_changed_field_and_force_takes_ownership() -> None:
    live = server_side_apply(None, config(), "kubectl", False, "Deployment")
    scaler = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }
    with pytest.raises(ApplyConflict) as caught:
        server_side_apply(live, scaler, "autoscaler", False, "Deployment")
    assert caught.value.conflicts == [("kubectl", ".spec.replicas")]
    assert str(caught.value) == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    forced = server_side_apply(live, scaler, "autoscaler", True, "Deployment")
    assert forced["spec"]["replicas"] == 5
    assert owners(forced)[("autoscaler", "Apply")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners(forced)[("kubectl", "Apply")]["f:spec"]


def test_same_value_is_shared_without_conflict() -> None:
    live = server_side_apply(None, config(), "kubectl", False, "Deployment")
    same = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2},
    }
    shared = server_side_apply(live, same, "other", False, "Deployment")
    assert "f:replicas" in owners(shared)[("kubectl", "Apply")]["f:spec"]
    assert owners(shared)[("other", "Apply")] == {"f:spec": {"f:replicas": {}}}


def test_fields_a_manager_stops_applying_are_removed_unless_someone_else_owns_them() -> None:
    live = server_side_apply(None, config(labels={"app": "web", "team": "a"}), "kubectl", False, "Deployment")
    live = server_side_apply(
        live,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "a"}}},
        "labeller",
        False,
        "Deployment",
    )
    reduced = server_side_apply(live, config(replicas=None, labels={}), "kubectl", False, "Deployment")
    assert "replicas" not in reduced["spec"]
    assert reduced["metadata"]["labels"] == {"team": "a"}  # still owned by the labeller
    assert reduced["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "app:1"}]


def test_list_items_merge_by_key_and_dropped_items_disappear() -> None:
    two = config()
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "side:1"})
    live = server_side_apply(None, two, "kubectl", False, "Deployment")
    sidecar_only = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:2"}]}}},
    }
    with pytest.raises(ApplyConflict, match=r'containers\[name="sidecar"\]\.image'):
        server_side_apply(live, sidecar_only, "mesh", False, "Deployment")
    live = server_side_apply(live, sidecar_only, "mesh", True, "Deployment")
    live = server_side_apply(live, config(image="app:2"), "kubectl", False, "Deployment")
    names = [(c["name"], c["image"]) for c in live["spec"]["template"]["spec"]["containers"]]
    assert names == [("app", "app:2"), ("sidecar", "side:2")]  # the sidecar's image is the mesh's now
    live = server_side_apply(
        live,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
        "mesh",
        False,
        "Deployment",
    )
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_custom_resources_use_schema_list_types() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "inference": {
                "type": "object",
                "properties": {
                    "adapters": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {}, "strength": {}}},
                    }
                },
            }
        },
    }
    applied = {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": "w"},
               "inference": {"adapters": [{"name": "a", "strength": "1.0"}]}}  # fmt: skip
    live = server_side_apply(None, applied, "me", False, "Workspace", schema=schema)
    other = {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": "w"},
             "inference": {"adapters": [{"name": "b", "strength": "0.5"}]}}  # fmt: skip
    merged = server_side_apply(live, other, "you", False, "Workspace", schema=schema)
    assert [a["name"] for a in merged["inference"]["adapters"]] == ["a", "b"]


def test_record_update_moves_changed_fields_to_the_updater() -> None:
    live = server_side_apply(None, config(), "kubectl", False, "Deployment")
    new = {**live, "spec": {**live["spec"], "replicas": 9}}
    updated = record_update(live, new, "hpa-controller", "Deployment")
    assert owners(updated)[("hpa-controller", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners(updated)[("kubectl", "Apply")]["f:spec"]
    # kubectl applying its old value now conflicts with the controller's write:
    with pytest.raises(ApplyConflict, match="hpa-controller"):
        server_side_apply(updated, config(), "kubectl", False, "Deployment")
    created = record_update(None, config(), "creator", "ConfigMap")
    assert ("creator", "Update") in owners(created)


def test_fields_v1_round_trip() -> None:
    obj = config()
    obj["metadata"]["finalizers"] = ["x", "y"]
    paths = fields_of(obj, meta_for("Deployment"))
    assert ("f:metadata", "f:finalizers", 'v:"x"') in paths
    assert from_fields_v1(to_fields_v1(paths)) == paths
