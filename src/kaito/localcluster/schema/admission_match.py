"""Which admission webhooks a request reaches: rules, scope, namespace/object selectors, matchConditions."""

from __future__ import annotations

from typing import Any

from celpy import celtypes
from celpy.adapter import json_to_cel

from kaito.localcluster.schema.cel import CELRuleError, compile_rule


def rule_matches(
    rule: dict[str, Any],
    *,
    operation: str,
    group: str,
    version: str,
    resource: str,
    subresource: str,
    namespaced: bool,
) -> bool:
    """Whether one ``rules[]`` entry (RuleWithOperations) covers the request."""
    if not _listed(rule.get("operations"), operation):
        return False
    if not _listed(rule.get("apiGroups"), group) or not _listed(rule.get("apiVersions"), version):
        return False
    scope = rule.get("scope") or "*"
    if (scope == "Cluster" and namespaced) or (scope == "Namespaced" and not namespaced):
        return False
    return any(_resource_matches(pattern, resource, subresource) for pattern in rule.get("resources") or ())


def _listed(allowed: Any, value: str) -> bool:
    return bool(allowed) and ("*" in allowed or value in allowed)


def _resource_matches(pattern: str, resource: str, subresource: str) -> bool:
    wanted_resource, _, wanted_sub = pattern.partition("/")
    if wanted_resource not in ("*", resource):
        return False
    if not wanted_sub:
        return not subresource
    return wanted_sub in ("*", subresource)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels; a missing or empty selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key = expression.get("key", "")
        operator = expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


class MatchConditionError(Exception):
    """A matchCondition could not be evaluated (the webhook's failurePolicy decides what happens)."""


def match_conditions_pass(conditions: list[dict[str, Any]], variables: dict[str, Any]) -> bool:
    """Whether every ``matchConditions`` CEL expression is true (``object``, ``oldObject``, ``request``)."""
    if not conditions:
        return True
    activation = {name: json_to_cel(value) for name, value in variables.items()}
    for condition in conditions:
        expression = condition.get("expression", "")
        try:
            result = compile_rule(expression).evaluate(activation)
        except CELRuleError as exc:
            raise MatchConditionError(f"matchCondition {condition.get('name', '')!r}: {exc}") from exc
        if not isinstance(result, celtypes.BoolType | bool):
            raise MatchConditionError(f"matchCondition {condition.get('name', '')!r} did not return a bool")
        if not result:
            return False
    return True
