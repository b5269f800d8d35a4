"""Pruning of unknown fields and OpenAPI defaulting over a Kubernetes structural schema."""

from __future__ import annotations

import copy
from typing import Any

from kaito.localcluster.schema.fieldpath import FieldPath
from kaito.localcluster.schema.jsonvalue import ABSENT

Schema = dict[str, Any]

# Fields every embedded resource (and the root of a custom resource) keeps even if the schema omits them.
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


def prune(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` without fields the structural ``schema`` does not know.

    Honours ``x-kubernetes-preserve-unknown-fields`` and keeps ``apiVersion``/``kind``/``metadata`` at the
    root and inside ``x-kubernetes-embedded-resource`` objects.
    """
    return prune_with_report(schema, obj)[0]


def prune_with_report(schema: Schema, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Like :func:`prune`, also returning the pruned paths (``spec.foo``) for ``fieldValidation``."""
    removed: list[str] = []
    result = _prune(schema, copy.deepcopy(obj), FieldPath.root(), removed, resource=True)
    assert isinstance(result, dict)
    return result, removed


def _prune(schema: Schema, value: Any, path: FieldPath, removed: list[str], *, resource: bool) -> Any:
    if isinstance(value, dict):
        resource = resource or bool(schema.get("x-kubernetes-embedded-resource"))
        properties: dict[str, Schema] | None = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for key in list(value):
            if resource and key in _RESOURCE_FIELDS:
                continue  # ObjectMeta is the API server's business, not the schema's
            if properties is not None and key in properties:
                value[key] = _prune(properties[key], value[key], path.child(key), removed, resource=False)
            elif isinstance(additional, dict):
                value[key] = _prune(additional, value[key], path.key(key), removed, resource=False)
            elif preserve or additional is True:
                continue
            else:
                removed.append(path.child(key).render())
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                value[index] = _prune(items, item, path.index(index), removed, resource=False)
    return value


def apply_defaults(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` with OpenAPI ``default`` values filled in where fields are absent.

    Recurses into properties, array ``items`` and ``additionalProperties`` (also into values a default just
    filled in) as kube-apiserver does. A ``null`` in a non-nullable field is replaced by its default, or
    dropped when it has none.
    """
    result = _default(schema, copy.deepcopy(obj))
    assert isinstance(result, dict)
    return result


def _default(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        for key, prop in properties.items():
            current = value.get(key, ABSENT)
            non_nullable_null = current is None and not prop.get("nullable")
            if "default" in prop and (current is ABSENT or non_nullable_null):
                value[key] = copy.deepcopy(prop["default"])
            elif non_nullable_null:
                del value[key]
        additional = schema.get("additionalProperties")
        for key in list(value):
            if key in properties:
                value[key] = _default(properties[key], value[key])
            elif isinstance(additional, dict):
                if value[key] is None and not additional.get("nullable") and "default" in additional:
                    value[key] = copy.deepcopy(additional["default"])
                value[key] = _default(additional, value[key])
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                if item is None and not items.get("nullable") and "default" in items:
                    value[index] = copy.deepcopy(items["default"])
                value[index] = _default(items, value[index])
    return value
