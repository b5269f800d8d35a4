"""The real kubectl against the cluster: apply a CRD and a custom object, get (printer columns), describe,
delete — with no extra flags."""

from __future__ import annotations

import json
import re

import yaml

from .crds import Kubectl, gadget_crd

CRD_NAME = "gadgets.conformance.kaito.sh"


def columns(lines: list[str]) -> dict[str, str]:
    """The first row of kubectl's table keyed by header, cut at the header's column offsets."""
    header, row = lines[0], lines[1]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    bounds = [*starts[1:], max(len(row), len(header)) + 1]
    return {name: row[start:end].strip() for name, start, end in zip(names, starts, bounds, strict=True)}


def test_kubectl_apply_get_describe_wait_delete(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump(gadget_crd()))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s")
    manifest = {
        "apiVersion": "conformance.kaito.sh/v1",
        "kind": "Gadget",
        "metadata": {"name": "shiny", "namespace": namespace, "labels": {"app": "shiny"}},
        "spec": {"size": "small", "mode": "fast"},
    }
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    assert "gadget.conformance.kaito.sh/shiny created" in applied.stdout
    manifest["spec"]["size"] = "large"  # type: ignore[index]
    again = kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    assert "configured" in again.stdout
    table = kubectl("get", "gadgets", "-n", namespace).stdout.splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == ["NAME", "SIZE", "READY", "AGE"]
    assert columns(table)["NAME"] == "shiny"
    assert columns(table)["SIZE"] == "large"
    assert columns(table)["READY"] == ""  # a missing value prints as an empty cell
    short = kubectl("get", "gdg", "shiny", "-n", namespace, "-o", "json").stdout
    obj = json.loads(short)
    assert obj["spec"] == {"size": "large", "mode": "fast", "replicas": 1}
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    described = kubectl("describe", "gadget", "shiny", "-n", namespace).stdout
    assert "Name:" in described
    assert "shiny" in described
    assert "Size:" in described
    status_patch = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    kubectl(
        "patch",
        "gadget",
        "shiny",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        status_patch,
    )
    kubectl("wait", "--for=condition=Ready", "gadget/shiny", "-n", namespace, "--timeout=30s")
    assert columns(kubectl("get", "gadget", "shiny", "-n", namespace).stdout.splitlines())["READY"] == "True"
    deleted = kubectl("delete", "gadget", "shiny", "-n", namespace)
    assert 'gadget.conformance.kaito.sh "shiny" deleted' in deleted.stdout
    gone = kubectl("get", "gadget", "shiny", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_kubectl_builtin_kinds(kubectl: Kubectl, namespace: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80}, {"name": "torch", "port": 29500}],
        },
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(service))
    service["spec"]["ports"][0]["targetPort"] = 5000  # type: ignore[index]
    kubectl("apply", "-f", "-", input=yaml.safe_dump(service))
    row = re.split(r"\s{2,}", kubectl("get", "svc", "web", "-n", namespace).stdout.splitlines()[1].strip())
    assert row[1] == "ClusterIP"
    assert row[4] == "80/TCP,29500/TCP"
    got = json.loads(kubectl("get", "svc", "web", "-n", namespace, "-o", "json").stdout)
    assert got["spec"]["ports"][0]["targetPort"] == 5000
    assert got["spec"]["clusterIP"] == row[2]
    assert "Port:" in kubectl("describe", "svc", "web", "-n", namespace).stdout
    kubectl("delete", "svc", "web", "-n", namespace)
    typo = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "typo", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "typo"}},
            "template": {
                "metadata": {"labels": {"app": "typo"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "imagePullPolcy": "Always"}]},
            },
        },
    }
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(typo), check=False)
    assert refused.returncode != 0
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolcy"' in refused.stderr


def test_kubectl_create_generators(kubectl: Kubectl, namespace: str) -> None:
    """``kubectl create`` sends protobuf for built-in kinds; secrets default to type Opaque."""
    kubectl("create", "secret", "generic", "hf", "-n", namespace, "--from-literal=HF_TOKEN=abc123")
    secret = json.loads(kubectl("get", "secret", "hf", "-n", namespace, "-o", "json").stdout)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"HF_TOKEN": "YWJjMTIz"}
    kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=k=v")
    configmap = json.loads(kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)
    assert configmap["data"] == {"k": "v"}
    kubectl("create", "serviceaccount", "bot", "-n", namespace)
    kubectl("get", "serviceaccount", "bot", "-n", namespace)
