"""Differential test: our strategic merge patch against kubectl's own (``kubectl patch --local``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaito.localcluster.schema import PatchError, json_patch, strategic_merge_patch

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def kubectl_patch(tmp_path: Path, original: dict[str, Any], patch: dict[str, Any]) -> Any:
    source = tmp_path / "object.json"
    source.write_text(json.dumps(original))
    assert KUBECTL is not None
    command = [
        KUBECTL,
        "patch",
        "--local",
        "-f",
        str(source),
        "--type",
        "strategic",
        "-p",
        json.dumps(patch),
        "-o",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return ("error", done.stderr)
    return without_directives(json.loads(done.stdout))


def without_directives(value: Any) -> Any:
    """kubectl --local keeps directive keys it did not consume; a server drops them when decoding."""
    if isinstance(value, dict):
        return {k: without_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [without_directives(v) for v in value]
    return value


names = st.sampled_from(["a", "b", "c", "d"])
env_vars = st.lists(
    st.builds(lambda n, v: {"name": n, "value": v}, st.sampled_from("XYZ"), st.sampled_from("123")),
    max_size=3,
)


@st.composite
def containers(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(st.lists(names, unique=True, min_size=1, max_size=3))
    result = []
    for name in chosen:
        container: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(["img:1", "img:2"]))}
        envs = draw(env_vars)
        unique_envs = list({e["name"]: e for e in envs}.values())
        if unique_envs:
            container["env"] = unique_envs
        if draw(st.booleans()):
            container["ports"] = [{"containerPort": draw(st.sampled_from([80, 8080]))}]
        result.append(container)
    return result


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "labels": {"app": "web", "tier": "x"}}
    finalizers = draw(st.lists(st.sampled_from(["f1", "f2", "f3"]), unique=True, max_size=3))
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": draw(containers())}},
        },
    }


@st.composite
def patches(draw: st.DrawFn) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    if draw(st.booleans()):
        metadata["labels"] = {"tier": draw(st.sampled_from([None, "y"])), "new": "1"}
    if draw(st.booleans()):
        metadata["finalizers"] = draw(st.lists(st.sampled_from(["f1", "f2", "f4"]), unique=True, max_size=2))
    if draw(st.booleans()):
        # Deleting what the same patch adds is undefined: kubectl's answer depends on Go's map order.
        added = metadata.get("finalizers", [])
        deletable = [f for f in ("f1", "f3") if f not in added]
        metadata["$deleteFromPrimitiveList/finalizers"] = (
            draw(st.lists(st.sampled_from(deletable), unique=True)) if deletable else []
        )
    if metadata:
        patch["metadata"] = metadata
    pod: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    for name in draw(st.lists(names, unique=True, max_size=3)):
        action = draw(st.sampled_from(["update", "delete", "env", "env-order"]))
        if action == "delete":
            items.append({"name": name, "$patch": "delete"})
        elif action == "env":
            items.append({"name": name, "env": [{"name": draw(st.sampled_from("XYW")), "value": "9"}]})
        elif action == "env-order":
            order = draw(st.lists(st.sampled_from("XYZW"), unique=True, min_size=1))
            items.append({"name": name, "$setElementOrder/env": [{"name": n} for n in order],
                          "env": [{"name": order[-1], "value": "7"}]})  # fmt: skip
        else:
            items.append({"name": name, "image": "img:3"})
    if items and draw(st.integers(0, 9)) == 0:
        items.insert(0, {"$patch": "replace"})
    if items:
        pod["containers"] = items
    if draw(st.booleans()):
        pod["$setElementOrder/containers"] = [
            {"name": n} for n in draw(st.lists(names, unique=True, max_size=4))
        ]
    if pod:
        patch["spec"] = {"template": {"spec": pod}}
    if draw(st.booleans()):
        patch.setdefault("spec", {})["replicas"] = draw(st.sampled_from([None, 3]))
    if draw(st.booleans()):
        patch.setdefault("spec", {})["strategy"] = draw(
            st.sampled_from(
                [{"$retainKeys": ["type"], "type": "Recreate"}, {"rollingUpdate": {"maxUnavailable": 2}}]
            )
        )
    if draw(st.booleans()):
        order = draw(st.lists(st.sampled_from(["f1", "f2", "f3", "f4"]), unique=True))
        patch.setdefault("metadata", {})["$setElementOrder/finalizers"] = order
    return patch


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(original=deployments(), patch=patches())
def test_smp_matches_kubectl(tmp_path: Path, original: dict[str, Any], patch: dict[str, Any]) -> None:
    expected = kubectl_patch(tmp_path, original, patch)
    if isinstance(expected, tuple):
        with pytest.raises(PatchError):
            strategic_merge_patch(original, patch, "Deployment")
    else:
        assert strategic_merge_patch(original, patch, "Deployment") == expected


POD_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "a",
            "image": "a",
            "env": [{"name": "X", "value": "1"}],
            "ports": [{"containerPort": 80}],
            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
        }
    ],
    "initContainers": [{"name": "i", "image": "i"}],
    "volumes": [{"name": "v", "emptyDir": {}}],
    "imagePullSecrets": [{"name": "s1"}],
    "tolerations": [{"key": "t", "operator": "Exists"}],
    "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
    "topologySpreadConstraints": [
        {"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}
    ],
}
POD_PATCH: dict[str, Any] = {
    "containers": [
        {"name": "b", "image": "b", "env": [{"name": "Y", "value": "2"}]},
        {
            "name": "a",
            "env": [{"name": "Z", "value": "3"}],
            "ports": [{"containerPort": 8080}],
            "volumeMounts": [{"name": "w", "mountPath": "/w"}],
        },
    ],
    "initContainers": [{"name": "j", "image": "j"}],
    "volumes": [{"name": "w", "emptyDir": {}}],
    "imagePullSecrets": [{"name": "s2"}],
    "tolerations": [{"key": "u", "operator": "Exists"}],
    "hostAliases": [{"ip": "2.2.2.2", "hostnames": ["b"]}],
    "topologySpreadConstraints": [
        {"topologyKey": "host", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}
    ],
}
TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"a": "b"}}, "spec": POD_SPEC}
SELECTOR = {"matchLabels": {"a": "b"}}

KIND_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": POD_SPEC}, {"spec": POD_PATCH}),
    (
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
         "spec": {"selector": SELECTOR, "template": TEMPLATE}},
        {"spec": {"template": {"spec": POD_PATCH}}},
    ),
    (
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "s"},
         "spec": {"selector": SELECTOR, "template": TEMPLATE,
                  "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}},
        {"spec": {"template": {"spec": POD_PATCH},
                  "updateStrategy": {"$retainKeys": ["type"], "type": "OnDelete"}}},
    ),
    (
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": TEMPLATE},
         "status": {"conditions": [{"type": "Complete", "status": "False"}]}},
        {"spec": {"template": {"spec": POD_PATCH}},
         "status": {"conditions": [{"type": "Failed", "status": "True"}]}},
    ),
    (
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
         "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}}},
        {"spec": {"jobTemplate": {"spec": {"template": {"spec": POD_PATCH}}}}},
    ),
    (
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
         "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
         "status": {"addresses": [{"type": "InternalIP", "address": "1.2.3.4"}],
                    "conditions": [{"type": "Ready", "status": "False"}]}},
        {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]},
         "status": {"addresses": [{"type": "Hostname", "address": "n"}],
                    "conditions": [{"type": "MemoryPressure", "status": "False"}]}},
    ),
    (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "finalizers": ["a"]},
         "spec": {"finalizers": ["kubernetes"]}},
        {"metadata": {"finalizers": ["b"]}, "spec": {"finalizers": ["x"]}},
    ),
    (
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
         "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "ipFamilies": ["IPv4"]}},
        {"spec": {"ports": [{"port": 80, "protocol": "UDP", "name": "u"}, {"port": 29500}]}},
    ),
    (
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        {"rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("original", "patch"), KIND_CASES, ids=[case[0]["kind"] for case in KIND_CASES])
def test_merge_keys_of_builtin_kinds_match_kubectl(
    tmp_path: Path, original: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert strategic_merge_patch(original, patch, original["kind"]) == kubectl_patch(
        tmp_path, original, patch
    )


JSON_PATCH_CASES: list[list[dict[str, Any]]] = [
    [{"op": "add", "path": "/metadata/annotations/x", "value": "1"}],
    [{"op": "replace", "path": "/data/missing", "value": "1"}],
    [{"op": "remove", "path": "/data/missing"}],
    [{"op": "add", "path": "/metadata/finalizers/-", "value": "z"}],
    [{"op": "add", "path": "/metadata/finalizers/5", "value": "z"}],
    [{"op": "add", "path": "/metadata/finalizers/-1", "value": "z"}],
    [{"op": "remove", "path": "/metadata/finalizers/-1"}],
    [{"op": "remove", "path": "/metadata/finalizers/-3"}],
    [{"op": "test", "path": "/data/missing", "value": None}],
    [{"op": "test", "path": "/data/k", "value": "w"}],
    [{"op": "move", "from": "/data/k", "path": "/data/k2"}],
    [{"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"}],
    [{"op": "add", "path": "/metadata/finalizers/01", "value": "z"}],
    [{"op": "replace", "path": "/metadata/finalizers/2", "value": "z"}],
]


@pytest.mark.parametrize("ops", JSON_PATCH_CASES, ids=[json.dumps(ops[0]) for ops in JSON_PATCH_CASES])
def test_json_patch_matches_kubectl(tmp_path: Path, ops: list[dict[str, Any]]) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"a": "1"}, "finalizers": ["x", "y"]},
        "data": {"k": "v"},
    }
    source = tmp_path / "object.json"
    source.write_text(json.dumps(configmap))
    assert KUBECTL is not None
    command = [
        KUBECTL,
        "patch",
        "--local",
        "-f",
        str(source),
        "--type",
        "json",
        "-p",
        json.dumps(ops),
        "-o",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        with pytest.raises(PatchError):
            json_patch(configmap, ops)
    else:
        assert json_patch(configmap, ops) == json.loads(done.stdout)
