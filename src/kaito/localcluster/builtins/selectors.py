"""Label selectors (matchLabels/matchExpressions) and node selector terms, evaluated the Kubernetes way."""

from __future__ import annotations

from collections.abc import Mapping

from kaito.localcluster.builtins.objects import LabelSelector, LabelSelectorRequirement, NodeSelectorTerm


def requirement_matches(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    value = labels.get(requirement.key, "")
    match requirement.operator:
        case "In":
            return present and value in requirement.values
        case "NotIn":
            return not present or value not in requirement.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
        case "Gt" | "Lt":
            if not present or len(requirement.values) != 1:
                return False
            try:
                have, want = int(value), int(requirement.values[0])
            except ValueError:
                return False
            return have > want if requirement.operator == "Gt" else have < want
    return False


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """An empty selector matches everything (as in workload selectors)."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    return all(requirement_matches(req, labels) for req in selector.match_expressions)


def term_matches(term: NodeSelectorTerm, labels: Mapping[str, str], node_name: str) -> bool:
    """A node selector term; an empty term matches no node."""
    if not term.match_expressions and not term.match_fields:
        return False
    if not all(requirement_matches(req, labels) for req in term.match_expressions):
        return False
    fields = {"metadata.name": node_name}
    return all(req.key in fields and requirement_matches(req, fields) for req in term.match_fields)
