"""What the runner knows about each container, rendered as Kubernetes containerStatuses and pod conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRecord:
    name: str
    image: str
    init: bool = False
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    last_state: dict[str, Any] = field(default_factory=dict)
    container_id: str = ""

    def wait(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message = "waiting", reason, message
        self.ready = False

    def run(self, container_id: str) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.started_at, self.finished_at, self.exit_code = now_stamp(), None, None
        self.container_id = container_id
        self.ready = False
        self.started = False

    def terminate(self, exit_code: int, reason: str | None = None, message: str = "") -> None:
        self.state = "terminated"
        self.exit_code = exit_code
        self.reason = reason or ("Completed" if exit_code == 0 else "Error")
        self.message = message
        self.finished_at = now_stamp()
        self.ready = False
        self.started = False

    def remember_termination(self) -> None:
        """Move the terminated state into lastState before a restart."""
        self.last_state = {"terminated": self._terminated()}
        self.restart_count += 1

    def _terminated(self) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": self.exit_code if self.exit_code is not None else 0,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id or None,
        }
        if self.message:
            terminated["message"] = self.message
        return {k: v for k, v in terminated.items() if v is not None}

    def to_status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.state == "running":
            state = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self._terminated()}
        else:
            waiting = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"local://{self.image}" if self.container_id else "",
            "ready": self.ready,
            "started": self.started if self.state == "running" else False,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def pod_phase(inits: list[ContainerRecord], mains: list[ContainerRecord], init_failed: bool) -> str:
    if init_failed:
        return "Failed"
    if any(record.state != "terminated" or record.exit_code != 0 for record in inits):
        return "Pending"
    if any(record.state == "running" for record in mains):
        return "Running"
    if mains and all(record.state == "terminated" for record in mains):
        return "Succeeded" if all(record.exit_code == 0 for record in mains) else "Failed"
    if any(record.restart_count > 0 for record in mains):
        return "Running"
    return "Pending"


def pod_conditions(
    previous: list[dict[str, Any]], inits: list[ContainerRecord], mains: list[ContainerRecord], phase: str
) -> list[dict[str, Any]]:
    """PodScheduled (True: the pod is on this node), Initialized, ContainersReady and Ready."""
    initialized = all(record.state == "terminated" and record.exit_code == 0 for record in inits)
    ready = bool(mains) and all(record.ready for record in mains)
    completed = phase in ("Succeeded", "Failed")
    not_ready = [record.name for record in mains if not record.ready]
    reason_not_ready = "PodCompleted" if completed else "ContainersNotReady"
    message = "" if completed else f"containers with unready status: [{' '.join(not_ready)}]"
    wanted = {
        "PodScheduled": ("True", None, None),
        "Initialized": ("True", None, None)
        if initialized
        else (
            "False",
            "ContainersNotInitialized",
            "containers with incomplete status: "
            f"[{' '.join(r.name for r in inits if r.state != 'terminated' or r.exit_code != 0)}]",
        ),
        "ContainersReady": ("True", None, None) if ready else ("False", reason_not_ready, message),
        "Ready": ("True", None, None) if ready else ("False", reason_not_ready, message),
    }
    old = {c.get("type"): c for c in previous}
    result = [c for c in previous if c.get("type") not in wanted]
    for kind, (status, reason, text) in wanted.items():
        condition: dict[str, Any] = {"type": kind, "status": status}
        if reason:
            condition["reason"] = reason
        if text:
            condition["message"] = text
        before = old.get(kind)
        same = before is not None and before.get("status") == status
        condition["lastTransitionTime"] = before.get("lastTransitionTime") if same and before else now_stamp()
        result.append(condition)
    return result
