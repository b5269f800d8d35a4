"""Which Nodes a Workspace can run on: readiness, allocatable GPUs, and the bring-your-own selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from kaito.api.constants import LABEL_INSTANCE_TYPE, LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE
from kaito.api.workspace import Workspace
from kaito.presets import GpuFacts, InvalidNodeLabelsError

GPU_RESOURCE: Final = "nvidia.com/gpu"


class NodeFacts(BaseModel):
    """The few facts of a core/v1 Node the reconciler acts on, read once from the cached object."""

    model_config = ConfigDict(frozen=True)

    name: str
    labels: dict[str, str]
    ready: bool
    schedulable: bool
    deleting: bool
    allocatable_gpus: int

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> NodeFacts:
        metadata = node.get("metadata") or {}
        status = node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        raw_gpus = str((status.get("allocatable") or {}).get(GPU_RESOURCE, "0"))
        gpus = int(raw_gpus) if raw_gpus.isdigit() else 0
        return cls(
            name=str(metadata.get("name", "")),
            labels=dict(metadata.get("labels") or {}),
            ready=ready,
            schedulable=not (node.get("spec") or {}).get("unschedulable", False),
            deleting=bool(metadata.get("deletionTimestamp")),
            allocatable_gpus=gpus,
        )

    @property
    def usable(self) -> bool:
        """Ready, schedulable, not going away, and advertising at least one GPU."""
        return self.ready and self.schedulable and not self.deleting and self.allocatable_gpus > 0

    def provisioned_for(self, workspace: Workspace) -> bool:
        """Whether the node came from one of this Workspace's NodeClaims (it carries the Workspace labels)."""
        return (
            self.labels.get(LABEL_WORKSPACE) == workspace.metadata.name
            and self.labels.get(LABEL_WORKSPACE_NAMESPACE, workspace.metadata.namespace)
            == workspace.metadata.namespace
        )

    @property
    def provisioned(self) -> bool:
        """Whether the node came from some Workspace's NodeClaim."""
        return LABEL_WORKSPACE in self.labels

    def gpu_facts(self) -> GpuFacts | None:
        try:
            return GpuFacts.from_node_labels(self.labels)
        except InvalidNodeLabelsError:
            return None


def node_digest(node: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a Node matters to Workspaces; heartbeats change nothing here, so they reconcile nothing."""
    facts = NodeFacts.from_node(node)
    return (facts.ready, facts.schedulable, facts.deleting, facts.allocatable_gpus, facts.labels)


def fits_instance_type(node: NodeFacts, instance_type: str, gpus_needed: int, memory_mib: int) -> bool:
    """A bring-your-own node qualifies by its instance-type label, or by GPU labels at least as good."""
    if node.labels.get(LABEL_INSTANCE_TYPE) == instance_type:
        return True
    facts = node.gpu_facts()
    return facts is not None and facts.gpu_count >= gpus_needed and facts.memory_mib_per_gpu >= memory_mib


def candidate_nodes(workspace: Workspace, nodes: Iterable[NodeFacts]) -> list[NodeFacts]:
    """Usable nodes matching the label selector: preferredNodes first (in their order), then by name."""
    selector = workspace.resource.label_selector
    matching = [n for n in nodes if n.usable and selector.matches(n.labels)]
    preferred = {name: i for i, name in enumerate(workspace.resource.preferred_nodes)}
    return sorted(matching, key=lambda n: (n.name not in preferred, preferred.get(n.name, 0), n.name))
