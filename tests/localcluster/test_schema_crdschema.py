"""CRD schema checks on write: structural rules, list types, metadata, CEL that compiles, valid defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.localcluster.schema import check_structural_schema

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def fields(schema: Any) -> list[str]:
    return [error.field for error in check_structural_schema(schema)]


def test_a_good_schema_passes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.replicas >= 0", "messageExpression": "'bad'"}],
                "properties": {
                    "replicas": {"type": "integer", "default": 1, "minimum": 0},
                    "port": {
                        "x-kubernetes-int-or-string": True,
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                    },
                    "items": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}},
                        },
                    },
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
                "oneOf": [{"required": ["replicas"]}, {"required": ["items"]}],
            },
        },
    }
    assert check_structural_schema(schema) == []


def test_missing_types_items_and_root_type() -> None:
    schema = {"type": "array", "properties": {"spec": {"properties": {"a": {"type": "array"}}}}}
    assert fields(schema) == [
        f"{ROOT}.type",
        f"{ROOT}.items",
        f"{ROOT}.properties[spec].type",
        f"{ROOT}.properties[spec].properties[a].items",
    ]


def test_junctors_must_not_carry_types_or_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "anyOf": [{"type": "string", "default": "x"}]}},
    }
    assert fields(schema) == [f"{ROOT}.properties[a].anyOf[0].type", f"{ROOT}.properties[a].anyOf[0].default"]


def test_list_map_markers() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "string"}},
            "b": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "port"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
            "c": {"type": "array", "x-kubernetes-list-map-keys": ["x"], "items": {"type": "string"}},
            "d": {"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}},
        },
    }
    assert fields(schema) == [
        f"{ROOT}.properties[a].x-kubernetes-list-map-keys",
        f"{ROOT}.properties[a].items.type",
        f"{ROOT}.properties[b].items.properties[name]",
        f"{ROOT}.properties[b].x-kubernetes-list-map-keys[1]",
        f"{ROOT}.properties[c].x-kubernetes-list-map-keys",
        f"{ROOT}.properties[d].x-kubernetes-list-type",
    ]


def test_metadata_rules_cel_and_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.a >"},
                    {"rule": "true", "reason": "Nope"},
                    {"rule": "true", "messageExpression": "'x' +"},
                ],
                "properties": {"a": {"type": "integer", "minimum": 1, "default": 0}},
            },
        },
    }
    errors = check_structural_schema(schema)
    assert [e.field for e in errors] == [
        f"{ROOT}.properties[metadata]",
        f"{ROOT}.properties[spec].x-kubernetes-validations[0].rule",
        f"{ROOT}.properties[spec].x-kubernetes-validations[1].reason",
        f"{ROOT}.properties[spec].x-kubernetes-validations[2].messageExpression",
        f"{ROOT}.properties[spec].properties[a].default",
    ]
    assert "should be greater than or equal to 1" in errors[-1].detail


CRD_DIR = Path(__file__).resolve().parents[2] / "config" / "crd"


@pytest.mark.parametrize("name", ["kaito.sh_workspaces.yaml", "karpenter.sh_nodeclaims.yaml"])
def test_the_project_crds_are_structural(name: str) -> None:
    path = CRD_DIR / name
    if not path.exists():
        pytest.skip(f"{name} has not been generated")
    crd = yaml.safe_load(path.read_text())
    for index, version in enumerate(crd["spec"]["versions"]):
        where = f"spec.versions[{index}].schema.openAPIV3Schema"
        assert check_structural_schema(version["schema"]["openAPIV3Schema"], where) == []
