"""Job controller: pods up to `completions` with `parallelism`; fails on backoffLimit or deadline."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from kaito.localcluster.builtins.client import JOBS, PODS, KubeClient
from kaito.localcluster.builtins.events import JOB, EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.workloads.common import (
    delete_pod,
    enqueue_owner,
    enqueue_self,
    is_pod_active,
    is_pod_ready,
    now_stamp,
    parse_stamp,
    pod_from_template,
    set_condition,
    write_status,
)
from kaito.localcluster.builtins.workqueue import Controller


def _phase(pod: Obj) -> str:
    return str(pod.get("status", {}).get("phase", "Pending"))


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions", []) or []
    )


class JobController(Controller):
    name = "job"

    def __init__(
        self, client: KubeClient, jobs: Informer, pods: Informer, backoff_base_s: float, events: EventRecorder
    ) -> None:
        super().__init__()
        self.client = client
        self.events = events
        self.jobs = jobs
        self.pods = pods
        self.backoff_base_s = backoff_base_s
        self._last_failure: dict[str, float] = {}
        jobs.add_handler(enqueue_self(self.enqueue))
        pods.add_handler(enqueue_owner("Job", self.enqueue))

    async def reconcile(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or job["metadata"].get("deletionTimestamp") or _finished(job):
            return
        spec = job.get("spec", {})
        status = dict(job.get("status", {}) or {})
        owned = self.pods.by_index("owner", job["metadata"]["uid"])
        active = [pod for pod in owned if is_pod_active(pod)]
        succeeded = max(sum(_phase(p) == "Succeeded" for p in owned), int(status.get("succeeded", 0) or 0))
        failed = max(sum(_phase(p) == "Failed" for p in owned), int(status.get("failed", 0) or 0))
        if failed > int(status.get("failed", 0) or 0):
            self._last_failure[key] = time.monotonic()
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        backoff_limit = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        start = status.get("startTime") or now_stamp()
        conditions = list(status.get("conditions", []) or [])
        new_status = {"startTime": start, "succeeded": succeeded, "failed": failed}

        failure = self._failure(spec, start, failed, backoff_limit)
        done = succeeded >= int(completions) if completions is not None else succeeded > 0 and not active
        if failure is not None:
            reason, message = failure
            await asyncio.gather(*(self._delete(pod) for pod in active))
            conditions = set_condition(conditions, "FailureTarget", "True", reason, message)
            conditions = set_condition(conditions, "Failed", "True", reason, message)
            self.events.warning(job, reason, message, "job-controller", JOB)
            active = []
        elif done:
            message = "Reached expected number of succeeded pods"
            conditions = set_condition(
                conditions, "SuccessCriteriaMet", "True", "CompletionsReached", message
            )
            if not active:
                conditions = set_condition(conditions, "Complete", "True", "CompletionsReached", message)
                new_status["completionTime"] = now_stamp()
                self.events.normal(job, "Completed", "Job completed", "job-controller", JOB)
        else:
            wanted = parallelism if completions is None else min(parallelism, int(completions) - succeeded)
            missing = wanted - len(active)
            if missing > 0:
                delay = self._backoff_remaining(key, failed)
                if delay > 0:
                    self.enqueue_after(key, delay)
                else:
                    created = await asyncio.gather(*(self._create(job) for _ in range(missing)))
                    active.extend(created)
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None:
                started = parse_stamp(start) or datetime.now(UTC)
                left = float(deadline) - (datetime.now(UTC) - started).total_seconds()
                self.enqueue_after(key, max(left, 0.05))
        new_status |= {
            "active": len(active),
            "ready": sum(is_pod_ready(pod) for pod in active),
            "terminating": sum(bool(p["metadata"].get("deletionTimestamp")) for p in owned),
            "conditions": conditions,
        }
        await write_status(self.client, JOBS, self.jobs, job, new_status)

    def _failure(self, spec: Obj, start: str, failed: int, backoff_limit: int) -> tuple[str, str] | None:
        if failed > backoff_limit:
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_stamp(start)
        if deadline is not None and started is not None and self._elapsed(started) >= float(deadline):
            return "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    @staticmethod
    def _elapsed(started: datetime) -> float:
        return (datetime.now(UTC) - started).total_seconds()

    def _backoff_remaining(self, key: str, failed: int) -> float:
        if failed == 0 or key not in self._last_failure:
            return 0.0
        delay = min(self.backoff_base_s * 2.0 ** (failed - 1), 360.0)
        return delay - (time.monotonic() - self._last_failure[key])

    async def _create(self, job: Obj) -> Obj:
        uid = job["metadata"]["uid"]
        name = job["metadata"]["name"]
        labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        pod = pod_from_template(job["spec"].get("template", {}), job, extra_labels=labels)
        created = await self.client.create(PODS, job["metadata"]["namespace"], pod)
        self.pods.observe(created)
        message = f"Created pod: {created['metadata']['name']}"
        self.events.normal(job, "SuccessfulCreate", message, "job-controller", JOB)
        return created

    async def _delete(self, pod: Obj) -> None:
        await delete_pod(self.client, self.pods, pod)
