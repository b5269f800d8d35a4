"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch as kubectl sends it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kaito.localcluster.schema import (
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
    strategic_merge_supported,
)

# RFC 7386 appendix A, wrapped in an object because our API patches objects.
MERGE_VECTORS = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), MERGE_VECTORS)
def test_json_merge_patch_rfc7386_vectors(original: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(original)
    assert json_merge_patch(original, patch) == expected
    assert original == before


def test_json_patch_rfc6902_examples() -> None:
    assert json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == {
        "foo": "bar",
        "baz": "qux",
    }
    assert json_patch({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == {
        "foo": ["bar", "qux", "baz"]
    }
    assert json_patch({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": "x"}]) == {
        "foo": ["bar", "x"]
    }
    assert json_patch({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}]) == {"foo": "bar"}
    assert json_patch({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}]) == {
        "foo": ["bar", "baz"]
    }
    assert json_patch({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}]) == {
        "baz": "boo",
        "foo": "bar",
    }
    moved = json_patch(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
    )
    assert moved == {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}
    assert json_patch(
        {"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}]
    ) == {"foo": ["all", "cows", "eat", "grass"]}
    assert json_patch({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}]) == {
        "a": {"b": 1},
        "c": {"b": 1},
    }
    assert json_patch(
        {"a/b": 1, "m~n": 2},
        [{"op": "replace", "path": "/a~1b", "value": 3}, {"op": "remove", "path": "/m~0n"}],
    ) == {"a/b": 3}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/baz", "value": "qux"},
        {"op": "test", "path": "/foo/1", "value": 2},
    ]
    assert json_patch({"baz": "qux", "foo": ["a", 2, "c"]}, ops) == {"baz": "qux", "foo": ["a", 2, "c"]}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/baz", "value": "bar"}],
        [{"op": "test", "path": "/n", "value": True}],  # 1 is not true in JSON
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "add", "path": "/list/5", "value": 1}],
        [{"op": "add", "path": "/list/x", "value": 1}],
        [{"op": "remove", "path": "/list/-2"}],
        [{"op": "replace", "path": "/list/1", "value": 1}],
        [{"op": "test", "path": "/missing", "value": 1}],
        [{"op": "move", "from": "/obj", "path": "/obj/child"}],
        [{"op": "add", "path": "/x"}],
        [{"op": "frobnicate", "path": "/x"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "add", "path": "/ok", "value": 1}, {"op": "remove", "path": "/nope"}],
    ],
)
def test_json_patch_failures_raise_and_leave_original(ops: list[dict[str, Any]]) -> None:
    original = {"baz": "qux", "n": 1, "list": [1], "obj": {"a": 1}}
    before = copy.deepcopy(original)
    with pytest.raises(PatchError):
        json_patch(original, ops)
    assert original == before


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "1"}, "finalizers": ["a"]},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        },
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "sku", "operator": "Exists"}],
                },
            },
        },
    }


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def test_smp_merges_containers_and_env_by_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:2",
                            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                        }
                    ]
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    app, sidecar = containers(result)
    assert app["image"] == "app:2"
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert app["ports"] == [{"containerPort": 80}]
    assert sidecar == {"name": "sidecar", "image": "side:1"}


def test_smp_patch_delete_and_replace_directives() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "sidecar", "$patch": "delete"}],
                    "volumes": [{"$patch": "replace"}, {"name": "cache", "emptyDir": {}}],
                }
            },
            "strategy": {"$patch": "replace", "type": "Recreate"},
        }
    }
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["app"]
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}}]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    gone = strategic_merge_patch(deployment(), {"spec": {"strategy": {"$patch": "delete"}}}, "Deployment")
    assert "strategy" not in gone["spec"]


def test_smp_set_element_order_reorders_and_keeps_server_items() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "new"}, {"name": "app"}],
                    "containers": [{"name": "new", "image": "new:1"}],
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["new", "app", "sidecar"]


def test_smp_retain_keys_clears_unlisted_fields() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["spec"]["strategy"] == {
        "type": "Recreate"
    }
    volume_patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
                    ]
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), volume_patch, "Deployment")
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/x"}}]


def test_smp_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    result = strategic_merge_patch(deployment(), {"metadata": {"finalizers": ["c"]}}, "Deployment")
    assert result["metadata"]["finalizers"] == ["c", "a"]  # patch items first, as kubectl orders them
    result = strategic_merge_patch(result, {"metadata": {"finalizers": ["a"]}}, "Deployment")
    assert result["metadata"]["finalizers"] == ["c", "a"]
    delete = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(result, delete, "Deployment")["metadata"]["finalizers"] == ["c"]


def test_smp_null_deletes_and_atomic_lists_replace() -> None:
    patch = {
        "metadata": {"labels": {"tier": None}},
        "spec": {
            "replicas": None,
            "template": {"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}},
        },
    }
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert result["metadata"]["labels"] == {"app": "web"}
    assert "replicas" not in result["spec"]
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "other", "operator": "Exists"}]


def test_smp_ports_volume_mounts_and_service_ports_use_their_merge_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 29500}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                        }
                    ]
                }
            }
        }
    }
    app = containers(strategic_merge_patch(deployment(), patch, "Deployment"))[0]
    assert app["ports"] == [{"containerPort": 80, "name": "http"}, {"containerPort": 29500}]
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    service = {"spec": {"ports": [{"port": 80, "targetPort": 5000}], "selector": {"a": "b"}}}
    patched = strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 29500, "targetPort": 29500}]}}, "Service"
    )
    assert [p["port"] for p in patched["spec"]["ports"]] == [29500, 80]  # new patch items lead, as in kubectl


def test_smp_status_conditions_merge_by_type_and_owner_references_by_uid() -> None:
    pod = {
        "metadata": {"ownerReferences": [{"uid": "1", "name": "rs"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]
        },
    }
    patch = {
        "metadata": {"ownerReferences": [{"uid": "2", "name": "other"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    result = strategic_merge_patch(pod, patch, "Pod")
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Scheduled", "status": "True"},
    ]
    assert [o["uid"] for o in result["metadata"]["ownerReferences"]] == ["2", "1"]


def test_smp_errors_on_missing_merge_key() -> None:
    with pytest.raises(PatchError, match="merge key"):
        strategic_merge_patch(
            deployment(), {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, "Deployment"
        )


def test_kubectl_client_side_apply_patch_for_a_deployment() -> None:
    """What kubectl apply sends on a second apply: last-applied annotation, order directives, deletions."""
    live = deployment()
    last_applied = {"kind": "Deployment", "spec": {"replicas": 2}}
    patch = {
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied) + "\n"
            },
            "labels": {"tier": None},
        },
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}],
                            "name": "app",
                            "image": "app:3",
                            "env": [{"name": "B", "$patch": "delete"}],
                        },
                        {"name": "sidecar", "$patch": "delete"},
                    ],
                }
            },
        },
    }
    result = strategic_merge_patch(live, patch, "Deployment")
    assert (
        json.loads(result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        == last_applied
    )
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["spec"]["replicas"] == 2
    assert containers(result) == [
        {
            "name": "app",
            "image": "app:3",
            "env": [{"name": "A", "value": "1"}],
            "ports": [{"containerPort": 80}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
    ]


def test_kubectl_apply_patch_for_configmap_and_service() -> None:
    configmap = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    assert strategic_merge_patch(configmap, {"data": {"a": None, "c": "3"}}, "ConfigMap")["data"] == {
        "b": "2",
        "c": "3",
    }
    service = {
        "spec": {
            "ports": [{"port": 80, "name": "http"}, {"port": 29500, "name": "torch"}],
            "type": "ClusterIP",
        }
    }
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 29500}, {"port": 80}],
            "ports": [{"port": 80, "name": "web"}],
        }
    }
    result = strategic_merge_patch(service, patch, "Service")
    assert result["spec"]["ports"] == [{"port": 29500, "name": "torch"}, {"port": 80, "name": "web"}]


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    assert strategic_merge_supported("Deployment")
    assert strategic_merge_supported("ConfigMap")
    assert not strategic_merge_supported("Workspace")
    assert not strategic_merge_supported("NodeClaim")
    # ...for which kubectl's JSON merge patch flow works instead:
    workspace = {
        "resource": {"count": 1, "labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"adapters": [1]},
    }
    patched = json_merge_patch(workspace, {"resource": {"count": None}, "inference": {"adapters": [2]}})
    assert patched == {
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"adapters": [2]},
    }
