"""Workspace status, recomputed on every pass (conditions, nodes, state, scale); written only on change."""

from __future__ import annotations

from typing import Any, Final

from kaito.api.constants import (
    CONDITION_INFERENCE_READY,
    CONDITION_JOB_STARTED,
    CONDITION_RESOURCE_READY,
    CONDITION_WORKSPACE_READY,
    CONDITION_WORKSPACE_SUCCEEDED,
)
from kaito.api.meta import Condition, ConditionStatus, set_condition
from kaito.api.workspace import Workspace, WorkspaceStatus
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.objects import Obj, key_of
from kaito.reconcilers.names import WORKSPACES

STATE_PENDING: Final = "Pending"
STATE_PROVISIONING: Final = "Provisioning"
STATE_STARTING: Final = "Starting"
STATE_READY: Final = "Ready"
STATE_RUNNING: Final = "Running"
STATE_SUCCEEDED: Final = "Succeeded"
STATE_FAILED: Final = "Failed"
STATE_DELETING: Final = "Deleting"


class StatusBuilder:
    """A working copy of a Workspace's status; `changed` says whether writing it would change anything."""

    def __init__(self, workspace: Workspace) -> None:
        self.original = workspace.status.to_kube() if workspace.status else {}
        self.status = workspace.status.model_copy(deep=True) if workspace.status else WorkspaceStatus()
        self.status.state = None  # recomputed by every pass, like the conditions
        self.generation = workspace.metadata.generation

    def condition(self, type_: str, ok: bool | None, reason: str, message: str) -> None:
        status = (
            ConditionStatus.UNKNOWN if ok is None else ConditionStatus.TRUE if ok else ConditionStatus.FALSE
        )
        set_condition(
            self.status.conditions,
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message[:32768],
                observed_generation=self.generation,
            ),
        )

    def is_true(self, type_: str) -> bool:
        condition = self.status.condition(type_)
        return condition is not None and condition.is_true

    def resource(self, ok: bool, reason: str, message: str) -> None:
        self.condition(CONDITION_RESOURCE_READY, ok, reason, message)

    def inference(self, ok: bool, reason: str, message: str) -> None:
        self.condition(CONDITION_INFERENCE_READY, ok, reason, message)

    def job_started(self, ok: bool, reason: str, message: str) -> None:
        self.condition(CONDITION_JOB_STARTED, ok, reason, message)

    def succeeded(self, ok: bool | None, reason: str, message: str) -> None:
        self.condition(CONDITION_WORKSPACE_SUCCEEDED, ok, reason, message)

    def ready(self, ok: bool, reason: str, message: str) -> None:
        self.condition(CONDITION_WORKSPACE_READY, ok, reason, message)

    def fail(self, reason: str, message: str, *, condition: str = CONDITION_WORKSPACE_READY) -> None:
        """A failure retrying cannot fix: the named condition and the summary both say why."""
        if condition != CONDITION_WORKSPACE_READY:
            self.condition(condition, False, reason, message)
        self.ready(False, reason, message)
        self.status.state = STATE_FAILED

    def summarize_inference(self) -> None:
        """WorkspaceReady = ResourceReady and InferenceReady; otherwise the first one that is not."""
        for type_ in (CONDITION_RESOURCE_READY, CONDITION_INFERENCE_READY):
            condition = self.status.condition(type_)
            if condition is None or not condition.is_true:
                reason = condition.reason if condition else "Pending"
                message = condition.message if condition else f"waiting for {type_}"
                self.ready(False, reason, message)
                if self.status.state != STATE_FAILED:
                    self.status.state = (
                        STATE_PROVISIONING if type_ == CONDITION_RESOURCE_READY else STATE_STARTING
                    )
                return
        self.ready(True, "WorkspaceReady", "the model is served")
        self.status.state = STATE_READY

    def document(self) -> dict[str, Any]:
        return self.status.to_kube()

    @property
    def changed(self) -> bool:
        return self.document() != self.original


async def write_status(client: KubeClient, current: Obj, builder: StatusBuilder) -> JSON | None:
    """One status write when something changed (conflicts retried on a fresh copy); None when unchanged."""
    if not builder.changed:
        return None
    document = builder.document()

    def mutation(fresh: JSON) -> bool:
        # Per-adapter state belongs to the serving pods' reporter: keep what it last wrote.
        adapters = (fresh.get("status") or {}).get("adapters")
        new = dict(document)
        if adapters is not None:
            new["adapters"] = adapters
        if fresh.get("status") == new:
            return False
        fresh["status"] = new
        return True

    key = key_of(current)
    return await client.mutate_status(WORKSPACES, key.namespace, key.name, mutation, current=current)
