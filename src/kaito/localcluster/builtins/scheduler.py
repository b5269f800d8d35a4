"""The scheduler loop: binds pending pods to nodes via `pods/binding`, or reports why none fits."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from kaito.localcluster.builtins.client import PODS, KubeClient, is_status
from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj, object_key
from kaito.localcluster.builtins.objects import parse_node, parse_pod
from kaito.localcluster.builtins.scheduling import NodeUsage, pod_requests, schedule
from kaito.localcluster.builtins.workqueue import Controller

log = structlog.get_logger(__name__)


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler(Controller):
    name = "scheduler"

    def __init__(
        self, client: KubeClient, pods: Informer, nodes: Informer, scheduler_name: str, events: EventRecorder
    ) -> None:
        super().__init__()
        self.client = client
        self.events = events
        self.pods = pods
        self.nodes = nodes
        self.scheduler_name = scheduler_name
        self.binding_supported = True
        self._requests: dict[str, dict[str, Decimal]] = {}  # by pod uid
        pods.add_handler(self._on_pod)
        nodes.add_handler(self._on_node)

    def _wants(self, pod: Obj) -> bool:
        spec = pod.get("spec", {})
        return (
            not spec.get("nodeName")
            and spec.get("schedulerName", "default-scheduler") == self.scheduler_name
            and not pod["metadata"].get("deletionTimestamp")
            and pod.get("status", {}).get("phase", "Pending") == "Pending"
        )

    def _on_pod(self, kind: str, pod: Obj) -> None:
        if kind == "DELETED":
            self._requests.pop(pod["metadata"].get("uid", ""), None)
        if kind != "DELETED" and self._wants(pod):
            self.enqueue(object_key(pod))
        elif kind == "DELETED" or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            self._retry_pending()  # resources were freed

    def _on_node(self, kind: str, node: Obj) -> None:
        self._retry_pending()

    def _retry_pending(self) -> None:
        for pod in self.pods.by_index("node", ""):
            if self._wants(pod):
                self.enqueue(object_key(pod))

    async def reconcile(self, key: str) -> None:
        raw = self.pods.get(key)
        if raw is None or not self._wants(raw):
            return
        pod = parse_pod(raw)
        nodes = [parse_node(node) for node in self.nodes.objects.values()]
        usage = {node.metadata.name: self._usage(node.metadata.name) for node in nodes}
        decision = schedule(pod, nodes, usage)
        if decision.node_name is None:
            await self._mark_unschedulable(raw, decision.message)
            return
        await self._bind(raw, decision.node_name)

    def _usage(self, node_name: str) -> NodeUsage:
        usage = NodeUsage()
        for raw in self.pods.by_index("node", node_name):
            if raw.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            uid = raw["metadata"].get("uid", "")
            cached = self._requests.get(uid)
            if cached is None:  # a pod's resources cannot change once it exists
                cached = self._requests[uid] = pod_requests(parse_pod(raw))
            usage.add(cached)
        return usage

    async def _bind(self, raw: Obj, node_name: str) -> None:
        meta = raw["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        if self.binding_supported:
            try:
                await self.client.create(PODS, namespace, binding, sub="binding")
            except Exception as error:
                if not is_status(error, 404, 405):
                    raise
                self.binding_supported = False
                log.warning("scheduler.no_binding_subresource", fallback="patch spec.nodeName")
        if not self.binding_supported:
            self.pods.observe(
                await self.client.patch(PODS, namespace, name, {"spec": {"nodeName": node_name}})
            )
            await self._set_scheduled_condition(raw, "True", None, None)
        assumed = copy.deepcopy(self.pods.get(object_key(raw)) or raw)
        assumed["spec"]["nodeName"] = node_name
        conditions = [
            c for c in assumed.get("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"
        ]
        scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_stamp()}
        assumed.setdefault("status", {})["conditions"] = [*conditions, scheduled]
        self.pods.observe(assumed)
        message = f"Successfully assigned {namespace}/{name} to {node_name}"
        self.events.normal(raw, "Scheduled", message, self.scheduler_name)
        log.debug("scheduler.bound", pod=f"{namespace}/{name}", node=node_name)

    async def _mark_unschedulable(self, raw: Obj, message: str) -> None:
        current = parse_pod(raw).status.condition("PodScheduled")
        if current is not None and current.status == "False" and current.message == message:
            return
        await self._set_scheduled_condition(raw, "False", "Unschedulable", message)
        self.events.warning(raw, "FailedScheduling", message, self.scheduler_name)

    async def _set_scheduled_condition(
        self, raw: Obj, status: str, reason: str | None, message: str | None
    ) -> None:
        condition = {
            "type": "PodScheduled",
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": now_stamp(),
        }
        if reason:
            condition |= {"reason": reason, "message": message}
        others = [c for c in raw.get("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
        meta = raw["metadata"]
        updated = await self.client.patch(
            PODS,
            meta["namespace"],
            meta["name"],
            {"status": {"conditions": [*others, condition]}},
            sub="status",
        )
        self.pods.observe(updated)
