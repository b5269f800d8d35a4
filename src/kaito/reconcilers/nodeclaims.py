"""The NodeClaims a Workspace asks for (built) and what the provisioner reported on them (read back)."""

from __future__ import annotations

from dataclasses import dataclass

from kaito.api.constants import (
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    LABEL_INSTANCE_TYPE,
    NODECLAIM_CONDITION_LAUNCHED,
    NODECLAIM_CONDITION_READY,
)
from kaito.api.meta import ConditionStatus
from kaito.api.nodeclaim import (
    NodeClaim,
    NodeClaimSpec,
    NodeClassReference,
    NodeSelectorRequirement,
    ResourceRequirements,
    Taint,
)
from kaito.api.workspace import Workspace
from kaito.reconcilers.names import LABEL_NODECLAIM_INDEX, nodeclaim_name, workspace_labels
from kaito.reconcilers.settings import WorkspaceSettings


def build_nodeclaim(
    workspace: Workspace, index: int, instance_type: str, disk_gib: int, settings: WorkspaceSettings
) -> NodeClaim:
    """NodeClaim number `index` of a Workspace. Cluster-scoped, so it points back by labels, not owners."""
    match_labels = workspace.resource.label_selector.match_labels or {}
    labels = {**match_labels, **workspace_labels(workspace), LABEL_NODECLAIM_INDEX: str(index)}
    return NodeClaim.model_validate(
        {
            "metadata": {
                "name": nodeclaim_name(workspace.metadata.namespace, workspace.metadata.name, index),
                "labels": labels,
            },
            "spec": NodeClaimSpec(
                requirements=[
                    NodeSelectorRequirement(key=LABEL_INSTANCE_TYPE, operator="In", values=[instance_type]),
                ],
                taints=[Taint(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT)],
                resources=ResourceRequirements(requests={"storage": f"{disk_gib}Gi"}),
                node_class_ref=NodeClassReference(
                    group=settings.node_class_group,
                    kind=settings.node_class_kind,
                    name=settings.node_class_name,
                ),
            ).to_kube(),
        }
    )


@dataclass(frozen=True, slots=True)
class ClaimState:
    """One NodeClaim as the reconciler sees it."""

    name: str
    node_name: str | None
    ready: bool
    deleting: bool
    failure_reason: str = ""
    failure_message: str = ""


def claim_state(claim: NodeClaim) -> ClaimState:
    """Ready / launching / failed (Launched=False carries the cloud's error code as its reason)."""
    status = claim.status
    launched = status.condition(NODECLAIM_CONDITION_LAUNCHED) if status else None
    ready = status.condition(NODECLAIM_CONDITION_READY) if status else None
    reason = message = ""
    if launched is not None and launched.status is ConditionStatus.FALSE and launched.reason:
        reason, message = launched.reason, launched.message
    return ClaimState(
        name=claim.metadata.name,
        node_name=status.node_name if status else None,
        ready=ready is not None and ready.is_true,
        deleting=claim.metadata.deletion_timestamp is not None,
        failure_reason=reason,
        failure_message=message,
    )
