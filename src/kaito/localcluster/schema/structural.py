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
    """``obj`` without fields the structural ``schema`` does not know (``obj`` itself is not modified).

    Honours ``x-kubernetes-preserve-unknown-fields`` and keeps ``apiVersion``/``kind``/``metadata`` at the
    root and inside ``x-kubernetes-embedded-resource`` objects. Copy on write: the result shares every part
    that needed no pruning with ``obj`` (it is ``obj`` itself when nothing was pruned), so treat both as
    read-only or copy before editing.
    """
    return prune_with_report(schema, obj)[0]


def prune_with_report(schema: Schema, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Like :func:`prune`, also returning the pruned paths (``spec.foo``) for ``fieldValidation``."""
    removed: list[str] = []
    result = _prune(schema, obj, FieldPath.root(), removed, resource=True)
    assert isinstance(result, dict)
    return result, removed


def _prune(schema: Schema, value: Any, path: FieldPath, removed: list[str], *, resource: bool) -> Any:
    if isinstance(value, dict):
        resource = resource or bool(schema.get("x-kubernetes-embedded-resource"))
        properties: dict[str, Schema] | None = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        result = value
        for key, item in value.items():
            if resource and key in _RESOURCE_FIELDS:
                continue  # ObjectMeta is the API server's business, not the schema's
            if properties is not None and key in properties:
                pruned = _prune(properties[key], item, path.child(key), removed, resource=False)
            elif isinstance(additional, dict):
                pruned = _prune(additional, item, path.key(key), removed, resource=False)
            elif preserve or additional is True:
                continue
            else:
                removed.append(path.child(key).render())
                if result is value:
                    result = dict(value)
                del result[key]
                continue
            if pruned is not item:
                if result is value:
                    result = dict(value)
                result[key] = pruned
        return result
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            pruned_list = value
            for index, item in enumerate(value):
                pruned = _prune(items, item, path.index(index), removed, resource=False)
                if pruned is not item:
                    if pruned_list is value:
                        pruned_list = list(value)
                    pruned_list[index] = pruned
            return pruned_list
    return value


def apply_defaults(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with OpenAPI ``default`` values filled in where fields are absent (``obj`` is not modified).

    Recurses into properties, array ``items`` and ``additionalProperties`` (also into values a default just
    filled in) as kube-apiserver does. A ``null`` in a non-nullable field is replaced by its default, or
    dropped when it has none. Copy on write, like :func:`prune`.
    """
    result = _default(schema, obj)
    assert isinstance(result, dict)
    return result


def _default(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        result = value
        for key, prop in properties.items():
            current = value.get(key, ABSENT)
            non_nullable_null = current is None and not prop.get("nullable")
            if "default" in prop and (current is ABSENT or non_nullable_null):
                if result is value:
                    result = dict(value)
                result[key] = copy.deepcopy(prop["default"])
            elif non_nullable_null:
                if result is value:
                    result = dict(value)
                del result[key]
        additional = schema.get("additionalProperties")
        for key, item in list(result.items()):
            if key in properties:
                defaulted = _default(properties[key], item)
            elif isinstance(additional, dict):
                filled = item
                if item is None and not additional.get("nullable") and "default" in additional:
                    filled = copy.deepcopy(additional["default"])
                defaulted = _default(additional, filled)
            else:
                continue
            if defaulted is not item:
                if result is value:
                    result = dict(value)
                result[key] = defaulted
        return result
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            defaulted_list = value
            for index, item in enumerate(value):
                filled = item
                if item is None and not items.get("nullable") and "default" in items:
                    filled = copy.deepcopy(items["default"])
                defaulted = _default(items, filled)
                if defaulted is not item:
                    if defaulted_list is value:
                        defaulted_list = list(value)
                    defaulted_list[index] = defaulted
            return defaulted_list
    return value
