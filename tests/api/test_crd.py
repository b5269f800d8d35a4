"""The generated CRDs: valid Kubernetes objects, structural schemas, up to date on disk, working CEL rules."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml

from kaito.api import Workspace
from kaito.api.crd import (
    KUSTOMIZATION_FILE,
    NODECLAIM_CRD_FILE,
    WORKSPACE_CRD_FILE,
    all_crds,
    nodeclaim_crd,
    render_files,
    workspace_crd,
)
from kaito.api.schema import at_path
from kaito.cli.main import main

from .crdtools import REPO, cel_failures, load_yaml, nodeclaim_schema, with_schema_defaults, workspace_schema

CRD_DIR = REPO / "config" / "crd"
K8S_VERSION = kubernetes_validate.latest_version()


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_crd_is_a_valid_kubernetes_object(name: str) -> None:
    kubernetes_validate.validate(all_crds()[name], K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(render_files()))
def test_config_crd_is_not_stale(name: str) -> None:
    path = CRD_DIR / name
    assert path.exists(), f"{path} is missing: run make manifests"
    assert path.read_text() == render_files()[name], f"{path} is stale: run make manifests"


def test_no_unexpected_files_in_config_crd() -> None:
    assert {p.name for p in CRD_DIR.iterdir()} == set(render_files())


def test_rendering_is_deterministic() -> None:
    assert render_files() == render_files()
    text = render_files()[WORKSPACE_CRD_FILE]
    assert "&id" not in text
    assert "*id" not in text
    assert yaml.safe_load(text) == workspace_crd()


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path or "<root>", schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


ALLOWED_KEYS = {
    "description", "type", "format", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength",
    "minItems", "maxItems", "required", "default", "nullable", "properties", "items", "additionalProperties",
    "anyOf", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-validations",
}  # fmt: skip


@pytest.mark.parametrize("schema_of", [workspace_schema, nodeclaim_schema], ids=["workspace", "nodeclaim"])
def test_schema_is_structural(schema_of: Any) -> None:
    schema = schema_of()
    assert schema["properties"]["metadata"] == {"type": "object"}
    for path, node in _nodes(schema):
        assert set(node) <= ALLOWED_KEYS, f"{path}: unsupported keys {set(node) - ALLOWED_KEYS}"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "anyOf" not in node, path
        assert isinstance(node.get("type"), str), f"{path}: every node needs a single type"
        assert not ("properties" in node and "additionalProperties" in node), path
        for required in node.get("required", []):
            assert required in node.get("properties", {}), f"{path}: required {required} is not a property"
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            assert set(node["x-kubernetes-list-map-keys"]) <= set(item.get("required", [])), path
        if "default" in node and node["type"] == "string" and "enum" in node:
            assert node["default"] in node["enum"], path


OPAQUE_PATHS = ["inference.template", "inference.adapters[].source.volumeSource", "tuning.input.volumeSource"]


@pytest.mark.parametrize("path", OPAQUE_PATHS)
def test_opaque_fields_preserve_unknown_fields(path: str) -> None:
    node = dict(at_path(workspace_schema(), path))
    node.pop("description", None)
    assert node == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_nodeclaim_quantities_are_int_or_string() -> None:
    requests = nodeclaim_schema()["properties"]["spec"]["properties"]["resources"]["properties"]["requests"]
    assert requests["additionalProperties"]["x-kubernetes-int-or-string"] is True


def test_workspace_crd_names_versions_and_subresources() -> None:
    spec = workspace_crd()["spec"]
    assert spec["group"] == "kaito.sh"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["wk", "wks"]
    assert spec["names"]["plural"] == "workspaces"
    assert spec["conversion"] == {"strategy": "None"}
    versions = {v["name"]: v for v in spec["versions"]}
    assert versions["v1alpha1"]["served"] is True
    assert versions["v1alpha1"]["storage"] is False
    assert versions["v1beta1"]["served"] is True
    assert versions["v1beta1"]["storage"] is True
    assert versions["v1alpha1"]["schema"] == versions["v1beta1"]["schema"]
    assert "scale" not in versions["v1alpha1"]["subresources"]
    assert versions["v1beta1"]["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_workspace_printer_columns_match_the_walkthrough() -> None:
    for version in workspace_crd()["spec"]["versions"]:
        columns = version["additionalPrinterColumns"]
        default_columns = [c["name"] for c in columns if not c.get("priority")]
        # kubectl prints NAME first, then these: NAME INSTANCE RESOURCEREADY INFERENCEREADY WORKSPACEREADY AGE
        assert [c.upper() for c in default_columns] == [
            "INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "WORKSPACEREADY", "AGE",
        ]  # fmt: skip
        by_name = {c["name"]: c for c in columns}
        assert by_name["Instance"]["jsonPath"] == ".resource.instanceType"
        assert by_name["JobStarted"]["jsonPath"] == '.status.conditions[?(@.type=="JobStarted")].status'
        assert by_name["Age"]["type"] == "date"


def test_nodeclaim_crd_shape() -> None:
    spec = nodeclaim_crd()["spec"]
    assert spec["group"] == "karpenter.sh"
    assert spec["scope"] == "Cluster"
    [version] = spec["versions"]
    assert version["name"] == "v1"
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Type", "Ready", "Node", "Age"]


def _rules(schema: dict[str, Any]) -> Iterator[str]:
    for _, node in _nodes(schema):
        for rule in node.get("x-kubernetes-validations", []):
            yield rule["rule"]


@pytest.mark.parametrize("schema_of", [workspace_schema, nodeclaim_schema], ids=["workspace", "nodeclaim"])
def test_cel_rules_compile(schema_of: Any) -> None:
    env = celpy.Environment()
    rules = list(_rules(schema_of()))
    assert rules
    for rule in rules:
        env.compile(rule)


def _defaulted(relative: str) -> dict[str, Any]:
    manifest = load_yaml(REPO / "examples" / relative)
    result: dict[str, Any] = with_schema_defaults(workspace_schema(), manifest)
    return result


PHI3 = "inference/kaito_workspace_phi_3.yaml"
TUNING = "tuning/kaito_workspace_tuning_phi_3.yaml"


def _changed(relative: str, path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_defaulted(relative))
    *parents, last = path.split(".")
    node = obj
    for step in parents:
        node = node.setdefault(step, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return obj


@pytest.mark.parametrize(
    ("relative", "path", "value", "message"),
    [
        (PHI3, "resource.count", 2, "resource.count is immutable"),
        (PHI3, "resource.instanceType", "Standard_NC12s_v3", "resource.instanceType is immutable"),
        (PHI3, "resource.labelSelector", {"matchLabels": {"apps": "other"}}, "labelSelector is immutable"),
        (
            PHI3,
            "inference.preset",
            {"name": "phi-3-medium-4k-instruct"},
            "inference.preset.name is immutable",
        ),
        (TUNING, "tuning.method", "lora", "tuning.method is immutable"),
        (TUNING, "tuning.preset", {"name": "mistral-7b"}, "tuning.preset.name is immutable"),
    ],
)
def test_transition_rules_reject_changes_to_immutable_fields(
    relative: str, path: str, value: Any, message: str
) -> None:
    old = _defaulted(relative)
    new = _changed(relative, path, value)
    failures = cel_failures(workspace_schema(), new, old)
    assert any(message in m for _, m in failures), failures
    assert cel_failures(workspace_schema(), old, old) == []


def test_transition_rules_allow_mutable_changes() -> None:
    old = _defaulted(PHI3)
    new = copy.deepcopy(old)
    new["resource"]["preferredNodes"] = ["node-a"]
    new["inference"]["config"] = "my-runtime-config"
    new["inference"]["preset"]["presetOptions"] = {"modelAccessSecret": "hf-token"}
    assert cel_failures(workspace_schema(), new, old) == []


def test_switching_inference_to_tuning_is_rejected() -> None:
    old = _defaulted(PHI3)
    new = {k: v for k, v in old.items() if k != "inference"} | {"tuning": _defaulted(TUNING)["tuning"]}
    assert cel_failures(workspace_schema(), new) == []  # valid as a fresh object
    failures = cel_failures(workspace_schema(), new, old)
    assert any("cannot switch between inference and tuning" in m for _, m in failures), failures


def test_nodeclaim_spec_is_immutable() -> None:
    old = {"spec": {"requirements": [], "resources": {"requests": {"storage": "100Gi"}}}}
    new = {"spec": {"requirements": [], "resources": {"requests": {"storage": "200Gi"}}}}
    assert cel_failures(nodeclaim_schema(), new, old) == [("spec", "spec is immutable")]


def test_cli_writes_files(tmp_path: Path) -> None:
    assert main(["manifests", "--output", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        WORKSPACE_CRD_FILE,
        NODECLAIM_CRD_FILE,
        KUSTOMIZATION_FILE,
    }
    assert (tmp_path / WORKSPACE_CRD_FILE).read_text() == render_files()[WORKSPACE_CRD_FILE]


def test_cli_prints_all_crds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in docs] == ["workspaces.kaito.sh", "nodeclaims.karpenter.sh"]


def _rules_with_nodes(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    for path, node in _nodes(schema):
        for rule in node.get("x-kubernetes-validations", []):
            yield path, node, rule["rule"]


@pytest.mark.parametrize("schema_of", [workspace_schema, nodeclaim_schema], ids=["workspace", "nodeclaim"])
def test_cel_rules_only_name_fields_the_schema_declares(schema_of: Any) -> None:
    # The API server type-checks rules against the schema; celpy does not, so check field names here.
    for path, node, rule in _rules_with_nodes(schema_of()):
        for chain in re.findall(r"\b(?:self|oldSelf)((?:\.[A-Za-z_]\w*(?![\w(]))+)", rule):
            current = node
            for name in chain.strip(".").split("."):
                assert name in current.get("properties", {}), f"{path}: {rule!r} names unknown field {name!r}"
                current = current["properties"][name]


def test_transition_rules_sit_outside_lists() -> None:
    # oldSelf is only available where old and new values can be correlated: never inside atomic lists.
    for path, _, rule in _rules_with_nodes(workspace_schema()):
        if "oldSelf" in rule:
            assert "[]" not in path, path


def test_scale_subresource_paths_satisfy_kubernetes() -> None:
    [beta] = [v for v in workspace_crd()["spec"]["versions"] if v["name"] == "v1beta1"]
    scale = beta["subresources"]["scale"]
    # The API server requires spec replicas under .spec, status replicas under .status.
    assert scale["specReplicasPath"].startswith(".spec.")
    assert scale["statusReplicasPath"].startswith(".status.")
    assert scale["labelSelectorPath"].startswith((".spec.", ".status."))
    schema = workspace_schema()
    assert at_path(schema, "spec.replicas")["type"] == "integer"
    assert at_path(schema, "status.replicas")["type"] == "integer"
    assert at_path(schema, "status.selector")["type"] == "string"


def test_desired_replicas_comes_from_the_scale_target() -> None:
    manifest = _defaulted(PHI3)
    assert Workspace.from_kube(manifest).desired_replicas is None
    assert Workspace.from_kube({**manifest, "spec": {"replicas": 4}}).desired_replicas == 4
