"""Why pods are not serving yet, and how a Job ended: read from cached Pod and Job objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kaito.api.weights import WEIGHTS_CONTAINER, WEIGHTS_FAILURE_REASONS

# InferenceReady's reason while a pod's weights init container runs (the reconciler adds its progress).
DOWNLOADING_WEIGHTS: Final = "DownloadingWeights"
# Waiting reasons worth surfacing as they are (everything else counts as "starting").
_WAITING_PROBLEMS: Final = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True, slots=True)
class PodProblem:
    pod: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class PodsSummary:
    """Ready pod count and the first problem found (None: the pods are only starting)."""

    total: int
    ready: int
    problem: PodProblem | None
    node_names: tuple[str, ...]


def _is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _weights_failure(container: Mapping[str, Any]) -> tuple[str, str] | None:
    """(reason, text) from a failed init container's `<Reason>: <text>` termination message, now or last run.

    A container in CrashLoopBackOff keeps its last failure in lastState, so the reason survives restarts.
    """
    state = container.get("state") or {}
    for terminated in (state.get("terminated"), (container.get("lastState") or {}).get("terminated")):
        if not terminated or terminated.get("exitCode", 0) == 0:
            continue
        message = str(terminated.get("message") or "").strip()
        reason, sep, text = message.partition(":")
        if sep and reason in WEIGHTS_FAILURE_REASONS:
            return reason, text.strip()
        return None
    return None


def _init_problem(name: str, container: Mapping[str, Any]) -> PodProblem | None:
    """A weights failure named by its reason, or `DownloadingWeights` while the fetch runs."""
    failure = _weights_failure(container)
    if failure is not None:
        reason, text = failure
        return PodProblem(name, reason, f"init container {container.get('name')}: {text}")
    state = container.get("state") or {}
    if container.get("name") == WEIGHTS_CONTAINER and state.get("running") is not None:
        # The generic message; `weights_progress` replaces it with the bytes and rate from the pod's log.
        return PodProblem(
            name,
            DOWNLOADING_WEIGHTS,
            f"init container {WEIGHTS_CONTAINER} is downloading the model weights "
            f"(progress: kubectl logs {name} -c {WEIGHTS_CONTAINER})",
        )
    return None


def pod_problem(pod: Mapping[str, Any]) -> PodProblem | None:
    """The most telling reason a pod is not serving: weight downloads and their failures, image pulls,
    crashes, OOM, or not scheduled."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    status = pod.get("status") or {}
    for init in status.get("initContainerStatuses") or []:
        problem = _init_problem(name, init)
        if problem is not None:
            return problem
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason in _WAITING_PROBLEMS:
            last = (container.get("lastState") or {}).get("terminated") or {}
            if reason == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                reason = "OOMKilled"
            message = waiting.get("message") or last.get("message") or ""
            return PodProblem(name, reason, f"container {container.get('name')}: {message}".strip())
        if reason == "ContainerCreating" and waiting.get("message"):
            return PodProblem(name, reason, f"container {container.get('name')}: {waiting['message']}")
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return PodProblem(name, "OOMKilled", f"container {container.get('name')} ran out of memory")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return PodProblem(name, reason, condition.get("message") or "")
    return None


def summarize_pods(pods: Iterable[Mapping[str, Any]]) -> PodsSummary:
    total = ready = 0
    problem: PodProblem | None = None
    nodes: set[str] = set()
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        total += 1
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            nodes.add(str(node))
        if _is_ready(pod):
            ready += 1
        elif problem is None:
            problem = pod_problem(pod)
    return PodsSummary(total, ready, problem, tuple(sorted(nodes)))


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """started: a pod of the Job ran or runs; finished: Complete or Failed; succeeded: Complete."""

    started: bool
    finished: bool
    succeeded: bool
    reason: str
    message: str


def job_outcome(job: Mapping[str, Any]) -> JobOutcome:
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobOutcome(True, True, True, "JobSucceeded", condition.get("message") or "tuning finished")
        if condition.get("type") == "Failed":
            return JobOutcome(
                True, True, False, condition.get("reason") or "JobFailed", condition.get("message") or ""
            )
    started = bool(status.get("startTime")) or any(status.get(k) for k in ("active", "succeeded", "failed"))
    return JobOutcome(started, False, False, "JobRunning" if started else "JobPending", "")
