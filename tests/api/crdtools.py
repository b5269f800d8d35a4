"""Helpers for the API tests: the generated CRD schemas, a JSON-schema validator and a CEL rule runner."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel

from kaito.api.crd import nodeclaim_crd, workspace_crd
from kaito.api.schema import to_json_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))

Schema = dict[str, Any]
RuleFailure = tuple[str, str]  # (path, message)


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def version_schema(crd: dict[str, Any], version: str) -> Schema:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: Schema = entry["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(version)


@cache
def workspace_schema(version: str = "v1beta1") -> Schema:
    return version_schema(workspace_crd(), version)


@cache
def nodeclaim_schema() -> Schema:
    return version_schema(nodeclaim_crd(), "v1")


def schema_errors(structural: Schema, obj: dict[str, Any]) -> list[str]:
    """JSON-schema errors of obj against a structural schema, as 'path: message'."""
    validator = _validator(structural)
    return [
        ".".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(obj)
    ]


_VALIDATORS: dict[int, tuple[Schema, jsonschema.Draft202012Validator]] = {}


def _validator(structural: Schema) -> jsonschema.Draft202012Validator:
    cached = _VALIDATORS.get(id(structural))
    if cached is None or cached[0] is not structural:
        cached = (structural, jsonschema.Draft202012Validator(to_json_schema(structural)))
        _VALIDATORS[id(structural)] = cached
    return cached[1]


_CEL_ENV = celpy.Environment()


@cache
def _compile(rule: str) -> Any:
    return _CEL_ENV.program(_CEL_ENV.compile(rule))


def cel_failures(schema: Schema, new: Any, old: Any = None, path: str = "") -> list[RuleFailure]:
    """Evaluate every x-kubernetes-validations rule where the value exists, as the API server would.

    Transition rules (those using oldSelf) run only when `old` has a value at the same place.
    """
    failures: list[RuleFailure] = []
    for rule in schema.get("x-kubernetes-validations", []):
        is_transition = "oldSelf" in rule["rule"]
        if is_transition and old is None:
            continue
        activation = {"self": json_to_cel(new)}
        if is_transition:
            activation["oldSelf"] = json_to_cel(old)
        result = _compile(rule["rule"]).evaluate(activation)
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failures.append((path, rule["message"]))
    if isinstance(new, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in new:
                old_value = old.get(name) if isinstance(old, dict) else None
                failures += cel_failures(sub, new[name], old_value, f"{path}.{name}".lstrip("."))
    if isinstance(new, list) and "items" in schema:
        for index, item in enumerate(new):
            # Items of a plain list are not correlated with old items (no transition rules inside).
            failures += cel_failures(schema["items"], item, None, f"{path}[{index}]")
    return failures


def with_schema_defaults(schema: Schema, value: Any) -> Any:
    """A copy of value with the schema's defaults filled in, as the API server's defaulting does."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, sub in schema["properties"].items():
            if name not in out and "default" in sub:
                out[name] = sub["default"]
            if name in out:
                out[name] = with_schema_defaults(sub, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [with_schema_defaults(schema["items"], item) for item in value]
    return value
