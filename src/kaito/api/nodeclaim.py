"""Karpenter's NodeClaim (karpenter.sh/v1), the part of it kaito writes and reads to get GPU nodes."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from kaito.api.base import KubeModel, Quantity, Time, is_empty
from kaito.api.meta import Condition, ObjectMeta, find_condition


class KarpenterModel(KubeModel):
    """A Karpenter shape: fields kaito does not model are kept and written back, not rejected, since a
    real Karpenter (or a newer one) may set them."""

    model_config = ConfigDict(extra="allow")


class RequirementOperator(StrEnum):
    """Operators of a node selector requirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(KarpenterModel):
    """A scheduling requirement on node labels, optionally asking for a minimum number of values."""

    key: str = Field(min_length=1, max_length=316)
    operator: RequirementOperator = Field(strict=False)
    values: list[str] = Field(default_factory=list, exclude_if=is_empty)
    min_values: int | None = Field(default=None, ge=1, le=50)


class TaintEffect(StrEnum):
    """What a taint does to pods that do not tolerate it."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(KarpenterModel):
    """core/v1 Taint."""

    key: str = Field(min_length=1)
    value: str | None = None
    effect: TaintEffect = Field(strict=False)
    time_added: Time | None = None


class ResourceRequirements(KarpenterModel):
    """Resources the node must offer, e.g. {"storage": "100Gi"}."""

    requests: dict[str, Quantity] = Field(default_factory=dict, exclude_if=is_empty)


class NodeClassReference(KarpenterModel):
    """The cloud-specific node class the provider uses (e.g. an AKSNodeClass)."""

    group: str
    kind: str
    name: str


class NodeClaimSpec(KarpenterModel):
    """What node is wanted."""

    requirements: list[NodeSelectorRequirement] = Field(default_factory=list, max_length=100)
    taints: list[Taint] = Field(default_factory=list, exclude_if=is_empty)
    startup_taints: list[Taint] = Field(default_factory=list, exclude_if=is_empty)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    node_class_ref: NodeClassReference | None = None
    expire_after: str | None = None
    termination_grace_period: str | None = None


class NodeClaimStatus(KarpenterModel):
    """What the provider observed: the cloud instance, the Node it became, and lifecycle conditions."""

    provider_id: str | None = Field(default=None, alias="providerID")
    node_name: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    capacity: dict[str, Quantity] = Field(default_factory=dict, exclude_if=is_empty)
    allocatable: dict[str, Quantity] = Field(default_factory=dict, exclude_if=is_empty)
    conditions: list[Condition] = Field(default_factory=list, exclude_if=is_empty)
    last_pod_event_time: Time | None = None

    def condition(self, condition_type: str) -> Condition | None:
        return find_condition(self.conditions, condition_type)


class NodeClaim(KarpenterModel):
    """A request for one node; cluster-scoped."""

    api_version: Literal["karpenter.sh/v1"] = "karpenter.sh/v1"
    kind: Literal["NodeClaim"] = "NodeClaim"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeClaimSpec = Field(default_factory=NodeClaimSpec)
    status: NodeClaimStatus | None = None
