"""NodeClaim status edits: the Launched outcome, and registration against the Node its instance became."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from kaito.api.constants import (
    NODECLAIM_CONDITION_INITIALIZED,
    NODECLAIM_CONDITION_LAUNCHED,
    NODECLAIM_CONDITION_READY,
    NODECLAIM_CONDITION_REGISTERED,
)
from kaito.api.meta import Condition, ConditionStatus, set_condition
from kaito.api.nodeclaim import NodeClaimStatus
from kaito.provisioner.cloud import CloudError, Instance

GPU_RESOURCE: Final = "nvidia.com/gpu"
_REASON = re.compile(r"[^A-Za-z0-9_]")


def _set(
    status: NodeClaimStatus,
    type_: str,
    value: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
) -> None:
    set_condition(
        status.conditions,
        Condition(type=type_, status=value, reason=reason, message=message, observed_generation=generation),
    )


def condition_reason(code: str) -> str:
    """An Azure/cloud error code as a condition reason (letters, digits and '_', starting with a letter)."""
    reason = _REASON.sub("_", code).strip("_") or "LaunchFailed"
    return reason if reason[0].isalpha() else f"E{reason}"


def mark_launching(status: NodeClaimStatus, message: str, generation: int | None) -> None:
    _set(status, NODECLAIM_CONDITION_LAUNCHED, ConditionStatus.UNKNOWN, "Launching", message, generation)
    _summarize(status, generation)


def mark_launch_failed(
    status: NodeClaimStatus, error: CloudError, provider: str, generation: int | None, retry_in: float | None
) -> None:
    """Launched=False, reason = the cloud's error code, message = what happened, how to fix, when retried."""
    retry = " (not retried: fix the NodeClaim)" if retry_in is None else f" (next attempt in {retry_in:.0f}s)"
    message = f"{provider} error {error.code}: {error.message}{retry}"
    _set(
        status,
        NODECLAIM_CONDITION_LAUNCHED,
        ConditionStatus.FALSE,
        condition_reason(error.code),
        message,
        generation,
    )
    _summarize(status, generation)


def mark_launched(status: NodeClaimStatus, instance: Instance, generation: int | None) -> None:
    if instance.provider_id and not status.provider_id:
        status.provider_id = instance.provider_id
    message = f"instance {instance.name} ({instance.instance_type}) is running"
    _set(status, NODECLAIM_CONDITION_LAUNCHED, ConditionStatus.TRUE, "Launched", message, generation)
    _summarize(status, generation)


def _node_ready(node: Mapping[str, Any]) -> tuple[bool, str]:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True", str(condition.get("message") or "")
    return False, "the node reports no Ready condition yet"


def _quantity_positive(value: Any) -> bool:
    try:
        return int(str(value)) > 0
    except ValueError:
        return True


def mark_waiting_for_node(status: NodeClaimStatus, pool: str, generation: int | None) -> None:
    message = f"waiting for a Node labelled agentpool={pool} to join the cluster"
    _set(status, NODECLAIM_CONDITION_REGISTERED, ConditionStatus.UNKNOWN, "AwaitingNode", message, generation)
    _summarize(status, generation)


def mark_registered(status: NodeClaimStatus, node: Mapping[str, Any], generation: int | None) -> None:
    """Copy the Node's identity and resources into the NodeClaim and derive Registered/Initialized."""
    metadata = node.get("metadata") or {}
    node_status = node.get("status") or {}
    name = str(metadata.get("name") or "")
    provider_id = (node.get("spec") or {}).get("providerID")
    if provider_id:
        status.provider_id = str(provider_id)
    status.node_name = name
    status.capacity = {k: str(v) for k, v in (node_status.get("capacity") or {}).items()}
    status.allocatable = {k: str(v) for k, v in (node_status.get("allocatable") or {}).items()}
    _set(
        status,
        NODECLAIM_CONDITION_REGISTERED,
        ConditionStatus.TRUE,
        "Registered",
        f"node {name} joined the cluster",
        generation,
    )
    ready, why = _node_ready(node)
    if not ready:
        _set(
            status,
            NODECLAIM_CONDITION_INITIALIZED,
            ConditionStatus.FALSE,
            "NodeNotReady",
            f"node {name} is not Ready: {why}".rstrip(": "),
            generation,
        )
    elif not _quantity_positive(status.allocatable.get(GPU_RESOURCE, "0")):
        _set(
            status,
            NODECLAIM_CONDITION_INITIALIZED,
            ConditionStatus.FALSE,
            "GPUNotAdvertised",
            f"node {name} is Ready but advertises no {GPU_RESOURCE} yet (is the NVIDIA device plugin "
            "running on it?)",
            generation,
        )
    else:
        _set(
            status,
            NODECLAIM_CONDITION_INITIALIZED,
            ConditionStatus.TRUE,
            "Initialized",
            f"node {name} is Ready with {status.allocatable[GPU_RESOURCE]} {GPU_RESOURCE}",
            generation,
        )
    _summarize(status, generation)


def _summarize(status: NodeClaimStatus, generation: int | None) -> None:
    """Ready = Launched, Registered and Initialized all True; otherwise the first one that is not."""
    for type_ in (
        NODECLAIM_CONDITION_LAUNCHED,
        NODECLAIM_CONDITION_REGISTERED,
        NODECLAIM_CONDITION_INITIALIZED,
    ):
        condition = status.condition(type_)
        if condition is None or not condition.is_true:
            reason = condition.reason if condition is not None and condition.reason else f"Not{type_}"
            message = condition.message if condition is not None else f"{type_} has not happened yet"
            value = (
                ConditionStatus.FALSE
                if condition is not None and condition.status is ConditionStatus.FALSE
                else ConditionStatus.UNKNOWN
            )
            _set(status, NODECLAIM_CONDITION_READY, value, reason, message, generation)
            return
    _set(
        status,
        NODECLAIM_CONDITION_READY,
        ConditionStatus.TRUE,
        "Ready",
        "the node is ready for workloads",
        generation,
    )
