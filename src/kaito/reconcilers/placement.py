"""Where a Workspace runs: its sizing plan, the nodes it needs, which exist, and which NodeClaims to create.

Bring-your-own nodes (Ready, matching `labelSelector`, `preferredNodes` first) are used before any
NodeClaim; NodeClaims make up the rest, numbered 0..n-1 with names derived from the Workspace, so a pass
interrupted anywhere computes the same names next time and never creates a second claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kaito.api.nodeclaim import NodeClaim
from kaito.api.workspace import Workspace
from kaito.presets import GpuFacts, Plan, get_sku, plan_workspace
from kaito.reconcilers.names import nodeclaim_name
from kaito.reconcilers.nodeclaims import ClaimState, build_nodeclaim
from kaito.reconcilers.nodes import NodeFacts, candidate_nodes, fits_instance_type
from kaito.reconcilers.settings import WorkspaceSettings


@dataclass(frozen=True, slots=True)
class Sizing:
    """What the Workspace needs: the plan (None for a custom template), nodes per model replica, replicas."""

    plan: Plan | None
    nodes_per_replica: int
    replicas: int
    gpus_per_pod: int
    disk_gib: int

    @property
    def target_nodes(self) -> int:
        return self.nodes_per_replica * self.replicas

    @property
    def multi_node(self) -> bool:
        """One model replica spans several nodes (pipeline parallel across pods)."""
        return self.plan is not None and self.plan.replicas_per_node == 0 and self.plan.nodes > 1


class NodesNotFound(Exception):
    """Bring-your-own Workspace with no GPU node to size against yet."""


def size(
    workspace: Workspace,
    nodes: Iterable[NodeFacts],
    settings: WorkspaceSettings,
    *,
    max_model_len: int | None = None,
) -> Sizing:
    """Plan the Workspace; raises PlanError (cannot fit) or NodesNotFound (nothing to size against yet).

    `spec.replicas` multiplies the nodes of single-node layouts; a layout spanning nodes serves one
    replica (a StatefulSet has one leader), so there it is not honoured beyond 1.
    """
    wanted = workspace.desired_replicas or 1
    inference = workspace.inference
    if inference is not None and inference.preset is None:
        sku = get_sku(workspace.resource.instance_type)
        count = workspace.resource.count
        return Sizing(None, count, wanted, sku.gpu_count, settings.template_disk_gib)
    node_gpus: GpuFacts | None = None
    if not workspace.resource.instance_type:
        node_gpus = next((f for n in candidate_nodes(workspace, nodes) if (f := n.gpu_facts())), None)
        if node_gpus is None:
            raise NodesNotFound(
                "no instanceType is set and no Ready node with GPU labels (nvidia.com/gpu.count, "
                "nvidia.com/gpu.product, nvidia.com/gpu.memory) matches resource.labelSelector; label your "
                "GPU nodes or set resource.instanceType"
            )
    plan = plan_workspace(workspace, node_gpus=node_gpus, max_model_len=max_model_len)
    spans_nodes = plan.replicas_per_node == 0 and plan.nodes > 1
    replicas = 1 if (spans_nodes or workspace.tuning is not None) else wanted
    return Sizing(plan, plan.nodes, replicas, plan.gpus_in_use_per_node, plan.disk_gib)


@dataclass
class Placement:
    """The nodes chosen (ready to run on) and the NodeClaims still to create; `waiting` says why not yet."""

    chosen: list[str] = field(default_factory=list)
    byo: list[str] = field(default_factory=list)
    to_create: list[NodeClaim] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    waiting_reason: str = ""
    waiting_message: str = ""

    @property
    def ready(self) -> bool:
        return not self.waiting_reason


def place(
    workspace: Workspace,
    sizing: Sizing,
    nodes: Iterable[NodeFacts],
    claims: dict[str, ClaimState],
    settings: WorkspaceSettings,
) -> Placement:
    """Choose nodes for `sizing.target_nodes` pods: previous choices, then BYO, then our NodeClaims' nodes."""
    target = sizing.target_nodes
    instance_type = workspace.resource.instance_type
    candidates = candidate_nodes(workspace, nodes)
    if instance_type and sizing.plan is not None:
        sku = get_sku(instance_type)
        candidates = [
            n
            for n in candidates
            if fits_instance_type(n, instance_type, sizing.gpus_per_pod, sku.gpu.memory_mib)
        ]
    # Nodes provisioned for another Workspace are its own, even when they match this selector.
    candidates = [
        n
        for n in candidates
        if n.allocatable_gpus >= sizing.gpus_per_pod and (n.provisioned_for(workspace) or not n.provisioned)
    ]
    previous = set(workspace.status.worker_nodes) if workspace.status else set()
    candidates.sort(key=lambda n: n.name not in previous)  # stable: keeps the preferred/name order within
    byo = [n.name for n in candidates if not n.provisioned_for(workspace)][:target]
    own = [n.name for n in candidates if n.provisioned_for(workspace)]
    needed = target - len(byo) if instance_type else 0
    names = [nodeclaim_name(workspace.metadata.namespace, workspace.metadata.name, i) for i in range(needed)]
    placement = Placement(claims=names, byo=byo)
    placement.to_create = [
        build_nodeclaim(workspace, i, instance_type, sizing.disk_gib, settings)
        for i, name in enumerate(names)
        if name not in claims
    ]
    placement.chosen = byo + own[: target - len(byo)]
    if len(placement.chosen) >= target:
        return placement
    failed = next((c for c in sorted(claims.values(), key=lambda c: c.name) if c.failure_reason), None)
    have = f"{len(placement.chosen)} of {target} GPU node(s) ready"
    if failed is not None:
        placement.waiting_reason = failed.failure_reason
        placement.waiting_message = f"{have}; NodeClaim {failed.name} cannot launch: {failed.failure_message}"
    elif not instance_type:
        placement.waiting_reason = "NotEnoughNodes"
        placement.waiting_message = (
            f"{have}: bring-your-own mode (no instanceType) needs {target} Ready GPU nodes matching "
            "resource.labelSelector; label more nodes or set resource.instanceType"
        )
    else:
        pending = [n for n in names if n not in claims or not claims[n].ready] or names
        placement.waiting_reason = "NodesProvisioning"
        placement.waiting_message = f"{have}; waiting for NodeClaim(s) {', '.join(pending)}"
    return placement


__all__ = ["NodesNotFound", "Placement", "Sizing", "place", "size"]
