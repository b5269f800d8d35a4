"""Runs a schema node's ``x-kubernetes-validations`` CEL rules and words failures as kube-apiserver does."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any

from celpy import celtypes

from kaito.localcluster.schema.cel import CELRuleError, CompiledRule, cel_type_name, compile_rule, to_cel
from kaito.localcluster.schema.cel_reflexive import true_when_unchanged
from kaito.localcluster.schema.errors import FieldError
from kaito.localcluster.schema.fieldpath import FieldPath
from kaito.localcluster.schema.jsonvalue import ABSENT

Schema = dict[str, Any]

_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}
_FIELD_PATH_STEP = re.compile(r"\.([A-Za-z0-9_$-]+)|\['([^']*)'\]|\[(\d+)\]")


def run_rules(
    schema: Schema,
    value: Any,
    old: Any,
    path: FieldPath,
    *,
    root: bool = False,
    transition_only: bool = False,
) -> list[FieldError]:
    """FieldErrors for every rule of ``schema`` that ``value`` breaks (never raises).

    Transition rules (using ``oldSelf``) are skipped when ``old`` is ABSENT unless ``optionalOldSelf`` is set,
    in which case ``oldSelf.hasValue()`` is false and ``oldSelf.orValue(x)`` gives ``x``. With
    ``transition_only`` the other rules are skipped (unchanged values ratchet; transition rules do not).
    """
    errors: list[FieldError] = []
    type_name = cel_type_name(schema, value)
    self_value: Any = None
    old_value: Any = None
    converted = False
    for rule in schema.get("x-kubernetes-validations") or ():
        text = rule.get("rule", "")
        try:
            compiled = compile_rule(text)
        except CELRuleError as exc:
            errors.append(FieldError("InternalError", path.render(), f"rule compile error: {exc}"))
            continue
        if compiled.uses_old_self and old is ABSENT and not rule.get("optionalOldSelf"):
            continue
        if transition_only and (
            not compiled.uses_old_self
            or text.replace(" ", "") in _TRIVIALLY_TRUE_WHEN_EQUAL
            or (not rule.get("optionalOldSelf") and true_when_unchanged(text, value))
        ):
            continue
        # A rule is a pure function of what it reads: a pass on the same inputs is a pass again.
        memo_key = _memo_key(compiled, schema, root, value, old)
        if _PASSED.get(memo_key) is schema:
            _PASSED.move_to_end(memo_key)
            continue
        if not converted:
            try:
                self_value = to_cel(value, schema, root=root)
                old_value = None if old is ABSENT else to_cel(old, schema, root=root)
            except (TypeError, ValueError) as exc:
                errors.append(
                    FieldError("FieldValueInvalid", path.render(), f"cannot evaluate rules: {exc}", type_name)
                )
                return errors
            converted = True
        activation: dict[str, Any] = {"self": self_value}
        if compiled.uses_old_self:
            activation["oldSelf"] = old_value
        error = _check_rule(compiled.text, activation, rule, path, type_name)
        if error is not None:
            errors.append(error)
        else:
            _PASSED[memo_key] = schema
            if len(_PASSED) > _PASSED_LIMIT:
                _PASSED.popitem(last=False)
    return errors


def _memo_key(compiled: CompiledRule, schema: Schema, root: bool, value: Any, old: Any) -> tuple[Any, ...]:
    """The rule, its schema node and the canonical JSON of the parts of ``self``/``oldSelf`` it reads."""
    inputs = [_projection(value, compiled.fields_read)]
    if compiled.uses_old_self:
        inputs.append(None if old is ABSENT else _projection(old, compiled.fields_read))
    return (compiled.text, id(schema), root, json.dumps(inputs, sort_keys=True, separators=(",", ":")))


def _projection(value: Any, fields: frozenset[str] | None) -> Any:
    if fields is None or not isinstance(value, dict):
        return value
    # Absent fields are marked apart from present ones so `has()` answers the same on a memo hit.
    return {name: [value[name]] if name in value else [] for name in sorted(fields)}


def has_transition_rules(schema: Schema) -> bool:
    """Whether ``schema`` or any schema below it has a rule using ``oldSelf`` (cached per schema object)."""
    cached = _TRANSITION_CACHE.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found = any(_uses_old_self(rule) for rule in schema.get("x-kubernetes-validations") or ())
    children = [
        *(schema.get("properties") or {}).values(),
        schema.get("items"),
        schema.get("additionalProperties"),
    ]
    found = found or any(isinstance(child, dict) and has_transition_rules(child) for child in children)
    _TRANSITION_CACHE[id(schema)] = (schema, found)  # holding the schema keeps its id from being reused
    return found


def _uses_old_self(rule: Any) -> bool:
    try:
        return isinstance(rule, dict) and compile_rule(str(rule.get("rule", ""))).uses_old_self
    except CELRuleError:
        return False


_TRANSITION_CACHE: dict[int, tuple[Schema, bool]] = {}
# Rule evaluations that passed, by memo key (see _memo_key), most recent last. The value is the schema node
# itself: a hit must be the same node, not a new one that happens to reuse a freed node's id.
_PASSED: OrderedDict[tuple[Any, ...], Schema] = OrderedDict()
_PASSED_LIMIT = 16384
# Immutability rules that cannot fail when the value is unchanged (transition_only runs only then).
_TRIVIALLY_TRUE_WHEN_EQUAL = frozenset({"self==oldSelf", "oldSelf==self"})


def _check_rule(
    text: str, activation: dict[str, Any], rule: dict[str, Any], path: FieldPath, type_name: str
) -> FieldError | None:
    where = _rule_path(path, rule.get("fieldPath"))
    try:
        result = compile_rule(text).evaluate(activation)
    except CELRuleError as exc:
        return FieldError("FieldValueInvalid", where, f"{exc} evaluating rule: {text}", type_name)
    if not isinstance(result, celtypes.BoolType | bool):
        detail = f"rule did not evaluate to a boolean (got {type(result).__name__}): {text}"
        return FieldError("FieldValueInvalid", where, detail, type_name)
    if bool(result):
        return None
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason not in _REASONS:
        reason = "FieldValueInvalid"
    return FieldError(reason, where, _failure_message(text, activation, rule), type_name)


def _failure_message(text: str, activation: dict[str, Any], rule: dict[str, Any]) -> str:
    expression = rule.get("messageExpression")
    if expression:
        try:
            produced = compile_rule(expression).evaluate(activation)
        except CELRuleError:
            produced = None
        if isinstance(produced, str) and produced.strip() and "\n" not in produced:
            return str(produced)
    message = rule.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {text}"


def _rule_path(path: FieldPath, field_path: Any) -> str:
    if not isinstance(field_path, str) or not field_path:
        return path.render()
    for match in _FIELD_PATH_STEP.finditer(field_path):
        name, key, index = match.groups()
        if name is not None:
            path = path.child(name)
        elif key is not None:
            path = path.key(key)
        else:
            path = path.index(int(index))
    return path.render()
