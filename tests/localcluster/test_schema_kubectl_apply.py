"""kubectl apply end to end on the embedded API server: client-side (SMP / JSON merge) and server-side."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .crds import Kubectl


def get(kubectl: Kubectl, kind: str, name: str, namespace: str) -> dict[str, Any]:
    output = kubectl("get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    result: dict[str, Any] = json.loads(output)
    return result


def apply(kubectl: Kubectl, manifest: dict[str, Any], *flags: str) -> None:
    kubectl("apply", *flags, "-f", "-", input=yaml.safe_dump(manifest))


def deployment(namespace: str, containers: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        },
    }


def test_client_side_apply_of_a_deployment_adds_changes_and_prunes(kubectl: Kubectl, namespace: str) -> None:
    app = {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    sidecar = {"name": "sidecar", "image": "side:1"}
    apply(kubectl, deployment(namespace, [app, sidecar], {"app": "web", "tier": "front"}))
    live = get(kubectl, "deployment", "web", namespace)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["app", "sidecar"]
    kubectl("annotate", "deployment", "web", "-n", namespace, "ops/owner=team-a")  # a change apply never saw
    changed = {
        "name": "app",
        "image": "app:2",
        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
    }
    apply(kubectl, deployment(namespace, [changed], {"app": "web"}))
    live = get(kubectl, "deployment", "web", namespace)
    (container,) = live["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "app:2"
    assert container["env"] == [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert live["metadata"]["labels"] == {"app": "web"}
    annotations = live["metadata"]["annotations"]
    assert annotations["ops/owner"] == "team-a"
    last = json.loads(annotations["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"


def test_client_side_apply_of_a_configmap_and_a_service(kubectl: Kubectl, namespace: str) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": namespace}}
    apply(kubectl, {**configmap, "data": {"a": "1", "b": "2"}})
    apply(kubectl, {**configmap, "data": {"b": "3", "c": "4"}})
    assert get(kubectl, "configmap", "cfg", namespace)["data"] == {"b": "3", "c": "4"}
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 5000}]},
    }
    apply(kubectl, service)
    service["spec"]["ports"] = [
        {"name": "torch", "port": 29500},
        {"name": "http", "port": 80, "targetPort": 5000},
    ]
    apply(kubectl, service)
    ports = get(kubectl, "service", "svc", namespace)["spec"]["ports"]
    assert [p["port"] for p in ports] == [29500, 80]


def test_server_side_apply_conflicts_and_force(kubectl: Kubectl, namespace: str) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": namespace}}
    apply(
        kubectl,
        {**configmap, "data": {"owner": "first", "shared": "x"}},
        "--server-side",
        "--field-manager=first",
    )
    clash = kubectl(
        "apply", "--server-side", "--field-manager=second", "-f", "-",
        input=yaml.safe_dump({**configmap, "data": {"owner": "second"}}), check=False,
    )  # fmt: skip
    assert clash.returncode != 0
    assert "conflict" in clash.stderr.lower()
    assert ".data.owner" in clash.stderr
    apply(
        kubectl,
        {**configmap, "data": {"owner": "second"}},
        "--server-side",
        "--field-manager=second",
        "--force-conflicts",
    )
    live = get(kubectl, "configmap", "ssa", namespace)
    assert live["data"] == {"owner": "second", "shared": "x"}
    managers = {entry["manager"] for entry in live["metadata"]["managedFields"]}
    assert {"first", "second"} <= managers
    apply(kubectl, {**configmap, "data": {}}, "--server-side", "--field-manager=first")
    assert get(kubectl, "configmap", "ssa", namespace)["data"] == {"owner": "second"}


def test_client_side_apply_of_a_workspace_uses_json_merge_patch(kubectl: Kubectl, namespace: str) -> None:
    workspace: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "workspace-phi-3-mini", "namespace": namespace, "labels": {"a": "1", "b": "2"}},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": "phi-3"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}, "config": "runtime-params"},
    }
    apply(kubectl, workspace)
    workspace["metadata"]["labels"] = {"a": "1"}
    del workspace["inference"]["config"]
    apply(kubectl, workspace)
    live = get(kubectl, "workspace", "workspace-phi-3-mini", namespace)
    assert live["metadata"]["labels"] == {"a": "1"}
    assert "config" not in live["inference"]
    assert live["inference"]["preset"]["name"] == "phi-3-mini-4k-instruct"
    workspace["resource"]["instanceType"] = "Standard_NC12s_v3"
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(workspace), check=False)
    assert refused.returncode != 0
    assert "resource.instanceType" in refused.stderr
