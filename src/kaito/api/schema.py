"""Turns a pydantic model's JSON schema into a Kubernetes *structural* OpenAPI v3 schema for a CRD."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

# JSON-schema keywords a structural schema may carry (everything else pydantic emits is dropped).
_KEPT_KEYWORDS = frozenset(
    {
        "description",
        "type",
        "format",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "uniqueItems",
        "multipleOf",
        "required",
        "default",
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)
_STRUCTURE_KEYWORDS = frozenset({"nullable", "properties", "items", "additionalProperties"})
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


class SchemaError(ValueError):
    """The model uses a shape that has no structural-schema equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's validation-mode JSON schema (camelCase names), made structural: refs inlined,
    optional fields without null branches, one `type` per node, only Kubernetes-supported keywords."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions, path=model.__name__)


def _resolve(node: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """Inline `$ref` (and single-member `allOf`), letting the referring node's keys win."""
    merged = dict(node)
    while True:
        if "$ref" in merged:
            name = merged.pop("$ref").rsplit("/", 1)[-1]
            merged = {**definitions[name], **merged}
        elif "allOf" in merged and len(merged["allOf"]) == 1:
            merged = {**merged.pop("allOf")[0], **merged}
        else:
            return merged


def _drop_null_branch(node: dict[str, Any], definitions: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "anyOf" not in node:
        return node
    members = [_resolve(m, definitions) for m in node["anyOf"]]
    non_null = [m for m in members if m.get("type") != "null"]
    if len(non_null) == len(members) and _is_int_or_string(node):
        return node
    if len(non_null) != 1:
        if _is_int_or_string({"anyOf": non_null, "x-kubernetes-int-or-string": True}):
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            return {**outer, "anyOf": non_null, "x-kubernetes-int-or-string": True}
        raise SchemaError(f"{path}: a union of several types has no structural schema")
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    # An optional field: omitted rather than null, so the null branch (and the null default) go away.
    if outer.get("default", 0) is None:
        del outer["default"]
    return {**non_null[0], **outer}


def _is_int_or_string(node: Mapping[str, Any]) -> bool:
    members = [{"type": m.get("type")} for m in node.get("anyOf", [])]
    return bool(node.get("x-kubernetes-int-or-string")) and sorted(members, key=str) == sorted(
        _INT_OR_STRING, key=str
    )


def _keep_default(value: Any) -> bool:
    # Empty strings and containers are "unset" in Kubernetes; writing them as defaults adds noise.
    return value is not None and value not in ("", [], {})


def _convert(node: Mapping[str, Any], definitions: Mapping[str, Any], path: str) -> dict[str, Any]:
    resolved = _drop_null_branch(_resolve(node, definitions), definitions, path)
    if "const" in resolved:
        resolved = {**resolved, "enum": [resolved.pop("const")]}
    out: dict[str, Any] = {k: v for k, v in resolved.items() if k in _KEPT_KEYWORDS}
    if "default" in out and not _keep_default(out["default"]):
        del out["default"]
    if "anyOf" in resolved:  # int-or-string: no `type`, exactly the two branches
        out["anyOf"] = [dict(m) for m in _INT_OR_STRING]
        out["x-kubernetes-int-or-string"] = True
        return out
    if "type" not in out:
        raise SchemaError(f"{path}: no type (schema {dict(resolved)!r})")
    if "properties" in resolved:
        out["properties"] = {
            name: _convert(sub, definitions, f"{path}.{name}") for name, sub in resolved["properties"].items()
        }
        if not out.get("required"):
            out.pop("required", None)
    additional = resolved.get("additionalProperties")
    if isinstance(additional, Mapping):
        out["additionalProperties"] = _convert(additional, definitions, f"{path}.*")
    elif additional is True and "properties" not in resolved:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in resolved:
        out["items"] = _convert(resolved["items"], definitions, f"{path}[]")
    return out


def at_path(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The sub-schema at a dotted path; `[]` steps into list items: `inference.adapters[].source`."""
    node = schema
    for step in filter(None, path.split(".")):
        name, items = (step[:-2], True) if step.endswith("[]") else (step, False)
        node = node["properties"][name]
        if items:
            node = node["items"]
    return node


def to_json_schema(structural: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A JSON-schema (draft 2020-12) rendering of a structural schema, for validating objects offline.

    `nullable` becomes a null branch, int-or-string an anyOf; with `strict`, objects with declared
    properties reject unknown fields (the API server would silently prune them instead).
    """
    out: dict[str, Any] = {}
    for key, value in structural.items():
        if key.startswith("x-kubernetes-") or key in _STRUCTURE_KEYWORDS:
            continue
        out[key] = value
    if "properties" in structural:
        out["properties"] = {k: to_json_schema(v, strict) for k, v in structural["properties"].items()}
        if strict and not structural.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if "additionalProperties" in structural:
        out["additionalProperties"] = to_json_schema(structural["additionalProperties"], strict)
    if "items" in structural:
        out["items"] = to_json_schema(structural["items"], strict)
    if structural.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if structural.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out
