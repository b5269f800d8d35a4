"""Validation of an object against a structural OpenAPI v3 schema with Kubernetes semantics and CEL rules.

Messages and field paths follow kube-apiserver (``resource.count: Invalid value: 0: resource.count in body
should be greater than or equal to 1``). On UPDATE, subtrees equal to the old object are not re-validated
(k8s CRD validation ratcheting), so objects stored under an older schema can still be updated elsewhere.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from kaito.localcluster.schema.errors import FieldError
from kaito.localcluster.schema.fieldpath import FieldPath
from kaito.localcluster.schema.formats import format_ok
from kaito.localcluster.schema.jsonvalue import ABSENT, json_equal, json_type
from kaito.localcluster.schema.rules import has_transition_rules, run_rules

Schema = dict[str, Any]


def validate(
    schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[FieldError]:
    """Every violation of ``schema`` by ``obj``, as k8s-style FieldErrors (empty list = valid).

    ``old`` is the stored object on UPDATE; CEL transition rules (those using ``oldSelf``) run only where
    ``old`` has the value (or the rule sets ``optionalOldSelf``).
    """
    errors: list[FieldError] = []
    _validate_node(schema, obj, ABSENT if old is None else old, FieldPath.root(), errors, root=True)
    return errors


def validate_value(schema: dict[str, Any], value: Any, path: FieldPath) -> list[FieldError]:
    """Violations of ``schema`` by any JSON value (not only objects), reported under ``path``."""
    errors: list[FieldError] = []
    _validate_node(schema, value, ABSENT, path, errors)
    return errors


@lru_cache(maxsize=512)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _type_matches(declared: str, value: Any) -> bool:
    actual = json_type(value)
    if declared == "number":
        return actual in ("integer", "number")
    if declared == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return declared == actual


def _in_body(path: FieldPath) -> str:
    return f"{path.render() or 'body'} in body"


def _validate_node(
    schema: Schema, value: Any, old: Any, path: FieldPath, errors: list[FieldError], *, root: bool = False
) -> None:
    if old is not ABSENT and value == old and json_equal(value, old):  # == first: C speed, rarely true
        # Ratcheting: an unchanged value was accepted before and stays accepted, except that transition
        # rules (oldSelf) are always evaluated where the old value exists, as in kube-apiserver.
        if has_transition_rules(schema):
            _transition_rules(schema, value, old, path, errors, root=root)
        return
    if not _check_type(schema, value, path, errors):
        return
    _check_value(schema, value, path, errors)
    if isinstance(value, dict):
        _check_object(schema, value, old, path, errors, root=root)
    elif isinstance(value, list):
        _check_array(schema, value, old, path, errors)
    _check_junctors(schema, value, path, errors)
    if schema.get("x-kubernetes-validations"):
        errors.extend(run_rules(schema, value, old, path, root=root))


def _transition_rules(
    schema: Schema, value: Any, old: Any, path: FieldPath, errors: list[FieldError], *, root: bool = False
) -> None:
    """Only the oldSelf rules of an unchanged subtree (where the value's type fits its schema)."""
    probe: list[FieldError] = []
    if not _check_type(schema, value, path, probe) or probe:
        return
    if schema.get("x-kubernetes-validations"):
        errors.extend(run_rules(schema, value, old, path, root=root, transition_only=True))
    properties: dict[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    if isinstance(value, dict) and isinstance(old, dict):
        for key, item in value.items():
            sub = (
                properties.get(key)
                if key in properties
                else additional
                if isinstance(additional, dict)
                else None
            )
            if (
                sub is not None
                and key in old
                and has_transition_rules(sub)
                and not (root and key == "metadata")
            ):
                child = path.child(key) if key in properties else path.key(key)
                _transition_rules(sub, item, old[key], child, errors)
    elif (
        isinstance(value, list)
        and isinstance(schema.get("items"), dict)
        and has_transition_rules(schema["items"])
    ):
        keys = list(schema.get("x-kubernetes-list-map-keys") or [])
        olds = _correlate(value, old, schema.get("x-kubernetes-list-type"), keys)
        for index, item in enumerate(value):
            if olds[index] is not ABSENT:
                _transition_rules(schema["items"], item, olds[index], path.index(index), errors)


def _check_type(schema: Schema, value: Any, path: FieldPath, errors: list[FieldError]) -> bool:
    """False when the value's type is wrong (then nothing below it is checked)."""
    if value is None:
        if schema.get("nullable"):
            return False
        declared = schema.get("type") or (
            "integer-or-string" if schema.get("x-kubernetes-int-or-string") else ""
        )
        if declared:
            errors.append(
                FieldError(
                    "FieldValueTypeInvalid",
                    path.render(),
                    f'{_in_body(path)} must be of type {declared}: "null"',
                    "null",
                )
            )
        return False
    if schema.get("x-kubernetes-int-or-string"):
        if json_type(value) not in ("integer", "string"):
            kind = json_type(value)
            detail = f'{_in_body(path)} must be of type integer-or-string: "{kind}"'
            errors.append(FieldError("FieldValueTypeInvalid", path.render(), detail, kind))
            return False
        return True
    declared = schema.get("type")
    if isinstance(declared, str) and declared and not _type_matches(declared, value):
        kind = json_type(value)
        detail = f'{_in_body(path)} must be of type {declared}: "{kind}"'
        errors.append(FieldError("FieldValueTypeInvalid", path.render(), detail, kind))
        return False
    return True


def _check_value(schema: Schema, value: Any, path: FieldPath, errors: list[FieldError]) -> None:
    where = path.render()
    enum = schema.get("enum")
    if enum is not None and not any(json_equal(value, allowed) for allowed in enum):
        supported = ", ".join(_quote(item) for item in enum)
        errors.append(FieldError("FieldValueNotSupported", where, f"supported values: {supported}", value))
    fmt = schema.get("format")
    if isinstance(fmt, str) and not format_ok(fmt, value):
        detail = f"{_in_body(path)} must be of type {fmt}: {_quote(value)}"
        errors.append(FieldError("FieldValueInvalid", where, detail, value))
    if isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, path, errors)


def _check_string(schema: Schema, value: str, path: FieldPath, errors: list[FieldError]) -> None:
    where = path.render()
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(
            FieldError("FieldValueTooLong", where, f"may not be more than {schema['maxLength']} bytes", value)
        )
    if "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{_in_body(path)} should be at least {schema['minLength']} chars long"
        errors.append(FieldError("FieldValueInvalid", where, detail, value))
    pattern = schema.get("pattern")
    if pattern and not _pattern(pattern).search(value):
        errors.append(
            FieldError("FieldValueInvalid", where, f"{_in_body(path)} should match '{pattern}'", value)
        )


def _check_number(schema: Schema, value: float, path: FieldPath, errors: list[FieldError]) -> None:
    where = path.render()
    body = _in_body(path)
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") is True and value <= low:
            errors.append(
                FieldError("FieldValueInvalid", where, f"{body} should be greater than {low}", value)
            )
        elif value < low:
            detail = f"{body} should be greater than or equal to {low}"
            errors.append(FieldError("FieldValueInvalid", where, detail, value))
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") is True and value >= high:
            errors.append(FieldError("FieldValueInvalid", where, f"{body} should be less than {high}", value))
        elif value > high:
            errors.append(
                FieldError(
                    "FieldValueInvalid", where, f"{body} should be less than or equal to {high}", value
                )
            )
    multiple = schema.get("multipleOf")
    if multiple and (value / multiple) != int(value / multiple):
        errors.append(
            FieldError("FieldValueInvalid", where, f"{body} should be a multiple of {multiple}", value)
        )


def _check_object(
    schema: Schema, value: dict[str, Any], old: Any, path: FieldPath, errors: list[FieldError], *, root: bool
) -> None:
    where = path.render()
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(FieldError("FieldValueRequired", path.child(name).render(), ""))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        detail = f"must have at most {schema['maxProperties']} items"
        errors.append(FieldError("FieldValueTooMany", where, detail, len(value)))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        detail = f"{_in_body(path)} should have at least {schema['minProperties']} properties"
        errors.append(FieldError("FieldValueInvalid", where, detail, len(value)))
    properties: dict[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    old_map = old if isinstance(old, dict) else {}
    for key, item in value.items():
        if root and key == "metadata":
            # ObjectMeta is the API server's to validate; a CRD may only constrain name/generateName.
            meta_schema = properties.get("metadata") or {}
            if isinstance(item, dict) and meta_schema.get("properties"):
                limited = {k: v for k, v in item.items() if k in ("name", "generateName")}
                _validate_node({**meta_schema, "required": []}, limited, ABSENT, path.child(key), errors)
            continue
        old_item = old_map.get(key, ABSENT)
        if key in properties:
            _validate_node(properties[key], item, old_item, path.child(key), errors)
        elif isinstance(additional, dict):
            _validate_node(additional, item, old_item, path.key(key), errors)
        elif additional is False and not (root and key in ("apiVersion", "kind")):
            errors.append(
                FieldError("FieldValueForbidden", path.child(key).render(), "field not declared in schema")
            )


def _check_array(
    schema: Schema, value: list[Any], old: Any, path: FieldPath, errors: list[FieldError]
) -> None:
    where = path.render()
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(
            FieldError(
                "FieldValueTooMany", where, f"must have at most {schema['maxItems']} items", len(value)
            )
        )
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"{_in_body(path)} should have at least {schema['minItems']} items"
        errors.append(FieldError("FieldValueInvalid", where, detail, len(value)))
    list_type = schema.get("x-kubernetes-list-type")
    keys: list[str] = list(schema.get("x-kubernetes-list-map-keys") or [])
    if list_type == "map" and keys:
        _check_map_list(value, keys, path, errors)
    elif list_type == "set" or schema.get("uniqueItems"):
        _check_set(value, path, errors)
    items = schema.get("items")
    if not isinstance(items, dict):
        return
    old_items = _correlate(value, old, list_type, keys)
    for index, item in enumerate(value):
        _validate_node(items, item, old_items[index], path.index(index), errors)


def _check_map_list(value: list[Any], keys: list[str], path: FieldPath, errors: list[FieldError]) -> None:
    seen: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        identity = {key: item.get(key) for key in keys}
        if any(json_equal(identity, earlier) for earlier in seen):
            errors.append(FieldError("FieldValueDuplicate", path.index(index).render(), "", identity))
        seen.append(identity)


def _check_set(value: list[Any], path: FieldPath, errors: list[FieldError]) -> None:
    for index, item in enumerate(value):
        if any(json_equal(item, earlier) for earlier in value[:index]):
            errors.append(FieldError("FieldValueDuplicate", path.index(index).render(), "", item))


def _correlate(value: list[Any], old: Any, list_type: str | None, keys: list[str]) -> list[Any]:
    """The old element matching each new element (by map keys or set value); atomic lists never correlate."""
    if not isinstance(old, list) or list_type not in ("map", "set"):
        return [ABSENT] * len(value)
    matched: list[Any] = []
    for item in value:
        found: Any = ABSENT
        for candidate in old:
            if list_type == "set" and json_equal(item, candidate):
                found = candidate
                break
            if (
                list_type == "map"
                and isinstance(item, dict)
                and isinstance(candidate, dict)
                and all(json_equal(item.get(k), candidate.get(k)) for k in keys)
            ):
                found = candidate
                break
        matched.append(found)
    return matched


def _check_junctors(schema: Schema, value: Any, path: FieldPath, errors: list[FieldError]) -> None:
    where = path.render()
    shown = json_type(value) if isinstance(value, dict | list) else value
    for sub in schema.get("allOf") or ():
        _validate_node(sub, value, ABSENT, path, errors)
    any_of = schema.get("anyOf")
    if any_of and not any(_passes(sub, value, path) for sub in any_of):
        errors.append(
            FieldError("FieldValueInvalid", where, "must validate at least one schema (anyOf)", shown)
        )
        for sub in any_of:
            _validate_node(sub, value, ABSENT, path, errors)
    one_of = schema.get("oneOf")
    if one_of:
        passing = sum(1 for sub in one_of if _passes(sub, value, path))
        if passing != 1:
            detail = "must validate one and only one schema (oneOf)"
            if passing == 0:
                detail += ". Found none valid"
            errors.append(FieldError("FieldValueInvalid", where, detail, shown))
    negated = schema.get("not")
    if isinstance(negated, dict) and _passes(negated, value, path):
        errors.append(FieldError("FieldValueInvalid", where, "must not validate the schema (not)", shown))


def _passes(schema: Schema, value: Any, path: FieldPath) -> bool:
    probe: list[FieldError] = []
    _validate_node(schema, value, ABSENT, path, probe)
    return not probe


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
