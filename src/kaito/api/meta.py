"""Kubernetes metadata shapes kaito uses: ObjectMeta, OwnerReference, LabelSelector, Condition."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from kaito.api.base import KubeModel, Opaque, Time, is_empty


class OwnerReference(KubeModel):
    """Points at the object that owns this one (garbage collection follows it)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    """metav1.ObjectMeta; empty collections and strings are omitted on output, as Kubernetes does.

    Fields added by newer Kubernetes versions are kept and written back rather than rejected.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", exclude_if=is_empty)
    generate_name: str | None = None
    namespace: str = Field(default="", exclude_if=is_empty)
    uid: str = Field(default="", exclude_if=is_empty)
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] = Field(default_factory=dict, exclude_if=is_empty)
    annotations: dict[str, str] = Field(default_factory=dict, exclude_if=is_empty)
    finalizers: list[str] = Field(default_factory=list, exclude_if=is_empty)
    owner_references: list[OwnerReference] = Field(default_factory=list, exclude_if=is_empty)
    managed_fields: list[Opaque] = Field(default_factory=list, exclude_if=is_empty)
    self_link: str | None = None


class SelectorOperator(StrEnum):
    """Operators of a label selector requirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(KubeModel):
    """One `matchExpressions` entry."""

    key: str = Field(min_length=1)
    operator: SelectorOperator = Field(strict=False)
    values: list[str] | None = None


class LabelSelector(KubeModel):
    """metav1.LabelSelector: the two lists are ANDed; an empty selector matches everything."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a set of labels satisfies this selector."""
        for key, value in (self.match_labels or {}).items():
            if labels.get(key) != value:
                return False
        for req in self.match_expressions or []:
            present = req.key in labels
            values = req.values or []
            if req.operator is SelectorOperator.IN and not (present and labels[req.key] in values):
                return False
            if req.operator is SelectorOperator.NOT_IN and present and labels[req.key] in values:
                return False
            if req.operator is SelectorOperator.EXISTS and not present:
                return False
            if req.operator is SelectorOperator.DOES_NOT_EXIST and present:
                return False
        return True


class ConditionStatus(StrEnum):
    """The three values a condition's status can take."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """metav1.Condition: one observed aspect of an object's state, with why and since when."""

    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus = Field(strict=False)
    reason: str = ""
    message: str = ""
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: Time | None = None

    @property
    def is_true(self) -> bool:
        return self.status is ConditionStatus.TRUE


def find_condition(conditions: list[Condition], condition_type: str) -> Condition | None:
    """The condition of a type, or None."""
    return next((c for c in conditions if c.type == condition_type), None)


def set_condition(conditions: list[Condition], new: Condition, now: datetime | None = None) -> bool:
    """Insert or update a condition in place, keeping lastTransitionTime unless status changed.

    Returns True when anything changed.
    """
    existing = find_condition(conditions, new.type)
    stamp = now or datetime.now(UTC)
    if existing is None:
        if new.last_transition_time is None:
            new = new.model_copy(update={"last_transition_time": stamp})
        conditions.append(new)
        return True
    changed = False
    updates: dict[str, Any] = {}
    if existing.status != new.status:
        updates["status"] = new.status
        updates["last_transition_time"] = new.last_transition_time or stamp
    for field in ("reason", "message", "observed_generation"):
        if getattr(existing, field) != getattr(new, field):
            updates[field] = getattr(new, field)
    if updates:
        changed = True
        index = conditions.index(existing)
        conditions[index] = existing.model_copy(update=updates)
    return changed
