"""Checks that need the API server: referenced ConfigMaps exist and parse; bring-your-own nodes' GPUs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kaito.api import LabelSelector, Workspace
from kaito.presets import GpuFacts, InvalidNodeLabelsError
from kaito.validation.configmaps import ConfigMapProblem, parse_inference_config, parse_tuning_config
from kaito.validation.issues import FIELD_INVALID, FIELD_NOT_FOUND, FieldIssue, issue, warning


class Lookups(Protocol):
    """Read access to the cluster, as the webhook or the reconciler has it."""

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap object (Kubernetes JSON form), or None when it does not exist."""
        ...

    async def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        """Nodes (Kubernetes JSON form) matching a label selector in its string form (`a=b,c in (d)`)."""
        ...


def selector_string(selector: LabelSelector) -> str:
    """A LabelSelector in the string form list calls take (`apps=phi-3,tier in (a,b),!gone`)."""
    parts = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for requirement in selector.match_expressions or []:
        values = ",".join(requirement.values or [])
        operator = requirement.operator.value
        if operator == "In":
            parts.append(f"{requirement.key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{requirement.key} notin ({values})")
        elif operator == "Exists":
            parts.append(requirement.key)
        else:
            parts.append(f"!{requirement.key}")
    return ",".join(parts)


async def check_config(workspace: Workspace, namespace: str, lookups: Lookups) -> list[FieldIssue]:
    """The ConfigMap named in `inference.config` / `tuning.config` exists in the namespace and parses."""
    parse: Callable[[dict[str, Any]], object]
    if workspace.inference is not None:
        field, name, parse = "inference.config", workspace.inference.config, parse_inference_config
    elif workspace.tuning is not None:
        field, name, parse = "tuning.config", workspace.tuning.config, parse_tuning_config
    else:
        return []
    if not name:
        return []
    configmap = await lookups.get_configmap(namespace, name)
    if configmap is None:
        return [
            issue(
                field,
                FIELD_NOT_FOUND,
                f"ConfigMap {name!r} does not exist in namespace {namespace!r}; create it before the "
                "Workspace",
                name,
            )
        ]
    try:
        parse(configmap)
    except ConfigMapProblem as problem:
        return [issue(field, FIELD_INVALID, f"ConfigMap {name!r} {problem.message}", name)]
    return []


async def node_gpus(workspace: Workspace, lookups: Lookups) -> tuple[GpuFacts | None, list[FieldIssue]]:
    """For bring-your-own nodes (no instanceType): the GPUs of the matching nodes, to plan against."""
    if workspace.resource.instance_type:
        return None, []
    field = "resource.labelSelector"
    nodes = await lookups.list_nodes(selector_string(workspace.resource.label_selector))
    if not nodes:
        return None, [
            warning(
                field,
                FIELD_NOT_FOUND,
                "no node matches this selector yet and no instanceType is set, so kaito will wait for "
                "matching nodes; label your GPU nodes or set resource.instanceType",
            )
        ]
    count = workspace.resource.count
    found: list[FieldIssue] = []
    if len(nodes) < count:
        found.append(
            warning(
                "resource.count",
                FIELD_NOT_FOUND,
                f"{count} nodes are wanted but only {len(nodes)} match resource.labelSelector; kaito waits "
                "for the rest",
            )
        )
    first = nodes[0]
    labels = (first.get("metadata") or {}).get("labels") or {}
    node_name = (first.get("metadata") or {}).get("name", "?")
    try:
        return GpuFacts.from_node_labels(labels), found
    except InvalidNodeLabelsError as exc:
        found.append(
            warning(field, FIELD_INVALID, f"cannot size the model for node {node_name!r}: {exc}", node_name)
        )
        return None, found
