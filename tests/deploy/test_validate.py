"""Every object deploy/ renders, and every CRD in config/crd/, is valid for the newest Kubernetes schema."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from deploy.manifests import OVERLAYS, REPO, load_yaml_documents, render

# Instances of CRDs (Prometheus Operator) that kubernetes_validate has no schema for; checked by hand below.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PodMonitor")}
VERSION = latest_version()


def _validate(doc: dict[str, Any]) -> None:
    # Round-trip through JSON: YAML may hold types (dates) a real API request could not.
    kubernetes_validate.validate(json.loads(json.dumps(doc)), VERSION, strict=True)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_rendered_objects_validate(overlay: str) -> None:
    docs = render(overlay)
    assert docs
    skipped = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            skipped.append(doc["kind"])
            continue
        try:
            _validate(doc)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {err}") from err
    assert (overlay == "prometheus") == bool(skipped), skipped


def test_crd_files_validate() -> None:
    paths = sorted((REPO / "config" / "crd").glob("*.yaml"))
    assert paths
    kinds = []
    for path in paths:
        for doc in load_yaml_documents(path):
            kinds.append(doc["kind"])
            if doc["kind"] == "Kustomization":  # kustomize's own file, not a Kubernetes object
                continue
            _validate(doc)
    assert kinds.count("CustomResourceDefinition") >= 2


def test_prometheus_monitors_are_well_formed() -> None:
    """What kubernetes_validate cannot check for the two monitors: shape, namespace, selected objects."""
    docs = render("prometheus")
    service_monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    metrics = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "kaito-operator-metrics"
    )
    assert service_monitor["metadata"]["namespace"] == metrics["metadata"]["namespace"]
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= metrics["metadata"]["labels"].items()
    port_names = {port["name"] for port in metrics["spec"]["ports"]}
    assert {e["port"] for e in service_monitor["spec"]["endpoints"]} <= port_names
    pod_monitor = next(d for d in docs if d["kind"] == "PodMonitor")
    assert pod_monitor["spec"]["namespaceSelector"] == {"any": True}
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == ["http"]
    dashboard = next(
        d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    )
    assert json.loads(dashboard["data"]["kaito.json"])["panels"]
