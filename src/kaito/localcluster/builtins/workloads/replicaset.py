"""ReplicaSet controller: keeps `replicas` active pods from the template and reports their readiness."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from kaito.localcluster.builtins.client import PODS, REPLICASETS, KubeClient
from kaito.localcluster.builtins.events import REPLICASET, EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.workloads.common import (
    delete_pod,
    enqueue_owner,
    enqueue_self,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    pod_from_template,
    write_status,
)
from kaito.localcluster.builtins.workqueue import Controller


def deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Which pods go first on scale-down: unscheduled, then pending, then not ready, newest first."""
    status = pod.get("status", {})
    return (
        0 if not pod.get("spec", {}).get("nodeName") else 1,
        0 if status.get("phase", "Pending") == "Pending" else 1,
        1 if is_pod_ready(pod) else 0,
        _invert(pod["metadata"].get("creationTimestamp") or ""),
    )


def _invert(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in text)


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(
        self, client: KubeClient, replicasets: Informer, pods: Informer, events: EventRecorder
    ) -> None:
        super().__init__()
        self.client = client
        self.events = events
        self.replicasets = replicasets
        self.pods = pods
        replicasets.add_handler(enqueue_self(self.enqueue))
        pods.add_handler(enqueue_owner("ReplicaSet", self.enqueue))

    async def reconcile(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        owned = self.pods.by_index("owner", rs["metadata"]["uid"])
        active = [pod for pod in owned if is_pod_active(pod)]
        wanted = int(rs.get("spec", {}).get("replicas", 1))
        if len(active) < wanted:
            template = rs["spec"].get("template", {})
            results = await asyncio.gather(
                *(self._create(rs, template) for _ in range(wanted - len(active))), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
        elif len(active) > wanted:
            doomed = sorted(active, key=deletion_rank)[: len(active) - wanted]
            await asyncio.gather(*(self._delete(rs, pod) for pod in doomed))
        await self._update_status(key)

    async def _create(self, rs: Obj, template: Obj) -> None:
        created = await self.client.create(PODS, rs["metadata"]["namespace"], pod_from_template(template, rs))
        self.pods.observe(created)
        message = f"Created pod: {created['metadata']['name']}"
        self.events.normal(rs, "SuccessfulCreate", message, "replicaset-controller", REPLICASET)

    async def _delete(self, rs: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        await delete_pod(self.client, self.pods, pod)
        message = f"Deleted pod: {meta['name']}"
        self.events.normal(rs, "SuccessfulDelete", message, "replicaset-controller", REPLICASET)

    async def _update_status(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            return
        min_ready = int(rs.get("spec", {}).get("minReadySeconds", 0) or 0)
        now = datetime.now(UTC)
        active = [pod for pod in self.pods.by_index("owner", rs["metadata"]["uid"]) if is_pod_active(pod)]
        template_labels = (rs["spec"].get("template", {}).get("metadata", {}) or {}).get("labels") or {}
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                all(pod["metadata"].get("labels", {}).get(k) == v for k, v in template_labels.items())
                for pod in active
            ),
            "readyReplicas": sum(is_pod_ready(pod) for pod in active),
            "availableReplicas": sum(is_pod_available(pod, min_ready, now) for pod in active),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if min_ready > 0 and status["readyReplicas"] > status["availableReplicas"]:
            self.enqueue_after(key, 1.0)
        await write_status(self.client, REPLICASETS, self.replicasets, rs, status)
