"""Checks that a CRD's openAPIV3Schema is structural and its CEL rules compile, as kube-apiserver does.

Covered: types present where required, ``items`` for arrays, properties vs additionalProperties, junctors free
of types/defaults/extensions, list-type markers, metadata limited to name/generateName, CEL rules and message
expressions that compile, defaults valid against their own schema. Not covered: rule cost estimation.
"""

from __future__ import annotations

from typing import Any

from kaito.localcluster.schema.cel import CELRuleError, compile_rule
from kaito.localcluster.schema.errors import FieldError
from kaito.localcluster.schema.fieldpath import FieldPath
from kaito.localcluster.schema.validation import validate_value

Schema = dict[str, Any]

_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_TYPES = ("object", "array", "string", "integer", "number", "boolean")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")
_NOT_IN_JUNCTORS = (
    "type", "default", "additionalProperties", "nullable", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "x-kubernetes-validations",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
)  # fmt: skip


def check_structural_schema(
    schema: Any, path: str = "spec.versions[0].schema.openAPIV3Schema"
) -> list[FieldError]:
    """Every reason ``schema`` may not serve a CRD version; ``path`` prefixes the reported field paths."""
    errors: list[FieldError] = []
    if not isinstance(schema, dict):
        return [FieldError("FieldValueRequired", path, "")]
    if schema.get("type") != "object":
        errors.append(
            FieldError("FieldValueInvalid", f"{path}.type", "must be object at the root", schema.get("type"))
        )
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict) and set(metadata.get("properties") or {}) - {"name", "generateName"}:
        errors.append(
            FieldError(
                "FieldValueForbidden",
                f"{path}.properties[metadata]",
                "must not specify anything other than name and generateName, "
                "but metadata is implicitly specified",
            )
        )
    _check_node(schema, path, errors, where="root")
    return errors


def _check_node(node: Schema, path: str, errors: list[FieldError], *, where: str) -> None:
    declared = node.get("type")
    open_ended = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if not declared and not open_ended:
        detail = (
            "must not be empty for specified array items"
            if where == "items"
            else ("must not be empty for specified object fields")
        )
        errors.append(FieldError("FieldValueRequired", f"{path}.type", detail))
    elif declared and declared not in _TYPES:
        supported = ", ".join(f'"{t}"' for t in _TYPES)
        errors.append(
            FieldError("FieldValueNotSupported", f"{path}.type", f"supported values: {supported}", declared)
        )
    if declared == "array" and not isinstance(node.get("items"), dict):
        errors.append(FieldError("FieldValueRequired", f"{path}.items", "must be specified"))
    if node.get("properties") and node.get("additionalProperties") not in (None, False):
        errors.append(
            FieldError(
                "FieldValueForbidden",
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    _check_list_type(node, path, errors)
    _check_rules(node, path, errors)
    if "default" in node:
        for problem in validate_value(node, node["default"], FieldPath.root().child("default")):
            errors.append(
                FieldError("FieldValueInvalid", f"{path}.default", problem.message(), node["default"])
            )
    for name, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict):
            _check_node(sub, f"{path}.properties[{name}]", errors, where="properties")
    if isinstance(node.get("items"), dict):
        _check_node(node["items"], f"{path}.items", errors, where="items")
    if isinstance(node.get("additionalProperties"), dict):
        _check_node(node["additionalProperties"], f"{path}.additionalProperties", errors, where="properties")
    for junctor in _JUNCTORS:
        subs = node.get(junctor)
        for index, sub in enumerate(
            subs if isinstance(subs, list) else [subs] if isinstance(subs, dict) else []
        ):
            sub_path = f"{path}.{junctor}[{index}]" if isinstance(subs, list) else f"{path}.{junctor}"
            _check_junctor(sub, sub_path, errors, int_or_string=bool(node.get("x-kubernetes-int-or-string")))


def _check_junctor(node: Any, path: str, errors: list[FieldError], *, int_or_string: bool) -> None:
    if not isinstance(node, dict):
        return
    for key in _NOT_IN_JUNCTORS:
        if key in node and not (int_or_string and key == "type" and node[key] in ("integer", "string")):
            errors.append(
                FieldError("FieldValueForbidden", f"{path}.{key}", "must be empty to be structural")
            )
    for name, sub in (node.get("properties") or {}).items():
        _check_junctor(sub, f"{path}.properties[{name}]", errors, int_or_string=False)
    if isinstance(node.get("items"), dict):
        _check_junctor(node["items"], f"{path}.items", errors, int_or_string=False)


def _check_list_type(node: Schema, path: str, errors: list[FieldError]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    keys = node.get("x-kubernetes-list-map-keys")
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errors.append(
            FieldError(
                "FieldValueNotSupported",
                f"{path}.x-kubernetes-list-type",
                'supported values: "atomic", "set", "map"',
                list_type,
            )
        )
    if keys is not None and list_type != "map":
        errors.append(
            FieldError(
                "FieldValueForbidden",
                f"{path}.x-kubernetes-list-map-keys",
                "must only be set if x-kubernetes-list-type is map",
            )
        )
    if list_type != "map":
        return
    raw_items = node.get("items")
    items: Schema = raw_items if isinstance(raw_items, dict) else {}
    if not keys:
        errors.append(
            FieldError(
                "FieldValueRequired",
                f"{path}.x-kubernetes-list-map-keys",
                "must not be empty if x-kubernetes-list-type is map",
            )
        )
    if items.get("type") != "object":
        errors.append(
            FieldError(
                "FieldValueInvalid",
                f"{path}.items.type",
                "must be object if parent array's x-kubernetes-list-type is map",
                items.get("type"),
            )
        )
    properties = items.get("properties") or {}
    for index, key in enumerate(keys or []):
        if key not in properties:
            errors.append(
                FieldError(
                    "FieldValueInvalid",
                    f"{path}.x-kubernetes-list-map-keys[{index}]",
                    "entries must all be names of item properties",
                    key,
                )
            )
        elif key not in (items.get("required") or []) and "default" not in properties[key]:
            errors.append(
                FieldError(
                    "FieldValueRequired",
                    f"{path}.items.properties[{key}]",
                    "all map keys must be required or have a default value",
                )
            )


def _check_rules(node: Schema, path: str, errors: list[FieldError]) -> None:
    for index, rule in enumerate(node.get("x-kubernetes-validations") or []):
        where = f"{path}.x-kubernetes-validations[{index}]"
        if not isinstance(rule, dict) or not rule.get("rule"):
            errors.append(FieldError("FieldValueRequired", f"{where}.rule", ""))
            continue
        for key in ("rule", "messageExpression"):
            if rule.get(key):
                try:
                    compile_rule(str(rule[key]))
                except CELRuleError as exc:
                    errors.append(FieldError("FieldValueInvalid", f"{where}.{key}", str(exc), rule[key]))
        reason = rule.get("reason")
        if reason is not None and reason not in _REASONS:
            supported = ", ".join(f'"{r}"' for r in _REASONS)
            errors.append(
                FieldError(
                    "FieldValueNotSupported", f"{where}.reason", f"supported values: {supported}", reason
                )
            )
