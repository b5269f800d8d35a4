"""Simulated nodes: registers NodeSpecs as Nodes and keeps every managed node Ready with heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from kaito.localcluster.builtins.client import LEASES, NODES, PODS, KubeClient, is_status
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.names import CONFIGURED_ANNOTATION, MANAGED_LABEL
from kaito.localcluster.builtins.nodes import NodeSpec, capacity_from_labels, node_manifest, node_status
from kaito.localcluster.builtins.workqueue import Controller

log = structlog.get_logger(__name__)
LEASE_NAMESPACE = "kube-node-lease"


def is_managed(node: Obj) -> bool:
    return bool(node.get("metadata", {}).get("labels", {}).get(MANAGED_LABEL) == "true")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


class NodeSimulator(Controller):
    """Adds/removes simulated nodes; keeps every Node labelled `localcluster.kaito.sh/managed=true` Ready."""

    name = "node-simulator"

    def __init__(self, client: KubeClient, nodes: Informer, pods: Informer, heartbeat_s: float) -> None:
        super().__init__()
        self.client = client
        self.nodes = nodes
        self.pods = pods
        self.heartbeat_s = heartbeat_s
        self.specs: dict[str, NodeSpec] = {}
        nodes.add_handler(self._on_node)

    def _on_node(self, kind: str, node: Obj) -> None:
        if kind != "DELETED" and is_managed(node):
            self.enqueue(node["metadata"]["name"])

    async def add_node(self, spec: NodeSpec, *, from_config: bool = False) -> Obj:
        """Register a node (idempotent) and mark it Ready; `from_config`: one of the configured nodes."""
        self.specs[spec.name] = spec
        manifest = node_manifest(spec)
        if from_config:
            manifest["metadata"]["annotations"][CONFIGURED_ANNOTATION] = "true"
        try:
            created = await self.client.create(NODES, None, manifest)
        except Exception as error:
            if not is_status(error, 409):
                raise
            created = await self.client.get(NODES, None, spec.name)
        self.nodes.observe(created)
        await self._renew_lease(spec.name)
        return await self._post_status(created)

    async def sync_configured(self, specs: list[NodeSpec]) -> None:
        """Make the configured nodes exactly `specs`: a restarted cluster drops nodes no longer configured."""
        wanted = {spec.name for spec in specs}
        for node in list(self.nodes.objects.values()):
            meta = node["metadata"]
            if (meta.get("annotations") or {}).get(CONFIGURED_ANNOTATION) == "true" and meta[
                "name"
            ] not in wanted:
                await self.remove_node(meta["name"])
        for spec in specs:
            await self.add_node(spec, from_config=True)

    async def remove_node(self, name: str) -> None:
        """Delete the node and, as the pod garbage collector does, the pods bound to it."""
        self.specs.pop(name, None)
        try:
            self.nodes.forget(await self.client.delete(NODES, None, name))
        except Exception as error:
            if not is_status(error, 404):
                raise
        try:
            await self.client.delete(LEASES, LEASE_NAMESPACE, name)
        except Exception as error:
            if not is_status(error, 404):
                log.debug("node.lease_delete_failed", node=name, error=repr(error))
        for pod in self.pods.by_index("node", name):
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["namespace"], meta["name"], grace_period_seconds=0)
            except Exception as error:
                if not is_status(error, 404):
                    raise

    async def reconcile(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None or not is_managed(node):
            return
        age = self._heartbeat_age(node)
        if age is None or age >= self.heartbeat_s * 0.9:
            await self._renew_lease(key)
            try:
                node = await self._post_status(node)
            except Exception as error:
                if is_status(error, 404):
                    return  # deleted meanwhile
                raise
            age = 0.0
        self.enqueue_after(key, max(self.heartbeat_s - age, 0.1))

    def _heartbeat_age(self, node: Obj) -> float | None:
        status = node.get("status", {})
        if not status.get("allocatable"):
            return None
        for condition in status.get("conditions", []):
            if condition.get("type") == "Ready":
                if condition.get("status") != "True":
                    return None
                beat = _parse_time(condition.get("lastHeartbeatTime"))
                return None if beat is None else (datetime.now(UTC) - beat).total_seconds()
        return None

    async def _post_status(self, node: Obj) -> Obj:
        name = node["metadata"]["name"]
        spec = self.specs.get(name)
        existing = node.get("status", {})
        capacity: dict[str, Any] = (
            spec.capacity()
            if spec
            else existing.get("capacity") or capacity_from_labels(node["metadata"]["labels"])
        )
        status = node_status(capacity, ready=True)
        previous = {c.get("type"): c for c in existing.get("conditions", [])}
        for condition in status["conditions"]:
            old = previous.get(condition["type"])
            if old and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
                condition["lastTransitionTime"] = old["lastTransitionTime"]
        updated = await self.client.patch(NODES, None, name, {"status": status}, sub="status")
        self.nodes.observe(updated)
        return updated

    async def _renew_lease(self, name: str) -> None:
        """Best effort: the node lease a kubelet keeps in kube-node-lease."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now}
        try:
            await self.client.patch(LEASES, LEASE_NAMESPACE, name, {"spec": spec})
        except Exception as error:
            if not is_status(error, 404):
                return
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
                "spec": spec,
            }
            try:
                await self.client.create(LEASES, LEASE_NAMESPACE, lease)
            except Exception as create_error:
                log.debug("node.lease_unavailable", node=name, error=repr(create_error))
