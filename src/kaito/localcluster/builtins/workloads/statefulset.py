"""StatefulSet controller: ordinal pods `<name>-0..N-1`, OrderedReady/Parallel, reverse-ordinal rollout."""

from __future__ import annotations

import asyncio
import copy

from kaito.localcluster.builtins.client import CONTROLLER_REVISIONS, PODS, STATEFULSETS, KubeClient, is_status
from kaito.localcluster.builtins.events import STATEFULSET, EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.workloads.common import (
    delete_pod,
    enqueue_owner,
    enqueue_self,
    is_pod_ready,
    owner_reference,
    pod_from_template,
    template_hash,
    write_status,
)
from kaito.localcluster.builtins.workqueue import Controller

REVISION_LABEL = "controller-revision-hash"


def ordinal(sts_name: str, pod: Obj) -> int | None:
    name: str = pod["metadata"]["name"]
    prefix = f"{sts_name}-"
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    return int(name[len(prefix) :])


def _revision(pod: Obj) -> str:
    return str(pod["metadata"].get("labels", {}).get(REVISION_LABEL, ""))


def _running_and_ready(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and is_pod_ready(pod)


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(
        self, client: KubeClient, statefulsets: Informer, pods: Informer, events: EventRecorder
    ) -> None:
        super().__init__()
        self.client = client
        self.events = events
        self._revisions: set[tuple[str, str]] = set()  # (statefulset uid, revision name) already recorded
        self._revisions_served = True
        self.statefulsets = statefulsets
        self.pods = pods
        statefulsets.add_handler(enqueue_self(self.enqueue))
        pods.add_handler(enqueue_owner("StatefulSet", self.enqueue))

    async def reconcile(self, key: str) -> None:
        sts = self.statefulsets.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        name = sts["metadata"]["name"]
        spec = sts.get("spec", {})
        replicas = int(spec.get("replicas", 1))
        update_revision = f"{name}-{template_hash(spec.get('template', {}))}"
        parallel = spec.get("podManagementPolicy") == "Parallel"
        pods: dict[int, Obj] = {}
        for pod in self.pods.by_index("owner", sts["metadata"]["uid"]):
            index = ordinal(name, pod)
            if index is not None:
                pods[index] = pod
        await self._record_revision(sts, update_revision)
        await self._sync(sts, pods, replicas, update_revision, parallel)
        await self._update_status(key, update_revision)

    async def _sync(
        self, sts: Obj, pods: dict[int, Obj], replicas: int, revision: str, parallel: bool
    ) -> None:
        # Failed pods are replaced; pods being deleted are waited for.
        for _, existing in sorted(pods.items()):
            if existing.get("status", {}).get("phase") == "Failed" and not existing["metadata"].get(
                "deletionTimestamp"
            ):
                await self._delete(sts, existing)
                return
        creations = []
        for index in range(replicas):
            pod = pods.get(index)
            if pod is None:
                creations.append(index)
                if not parallel:
                    break
            elif not parallel and (pod["metadata"].get("deletionTimestamp") or not _running_and_ready(pod)):
                return  # OrderedReady: wait for this ordinal before touching the next
        if creations:
            await asyncio.gather(*(self._create(sts, index, revision) for index in creations))
            return
        surplus = sorted((i for i in pods if i >= replicas), reverse=True)
        if surplus:
            targets = surplus if parallel else surplus[:1]
            if not parallel and any(pods[i]["metadata"].get("deletionTimestamp") for i in surplus):
                return
            await asyncio.gather(*(self._delete(sts, pods[i]) for i in targets))
            return
        await self._rolling_update(sts, pods, replicas, revision)

    async def _record_revision(self, sts: Obj, name: str) -> None:
        """The ControllerRevision `kubectl rollout history` reads (revision number = the set's generation)."""
        if not self._revisions_served or (sts["metadata"]["uid"], name) in self._revisions:
            return
        template = sts["spec"].get("template", {})
        labels = {**((template.get("metadata") or {}).get("labels") or {}), REVISION_LABEL: name}
        body = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": name,
                "namespace": sts["metadata"]["namespace"],
                "labels": labels,
                "ownerReferences": [owner_reference(sts)],
            },
            "data": {"spec": {"template": template}},
            "revision": int(sts["metadata"].get("generation", 1)),
        }
        try:
            await self.client.create(CONTROLLER_REVISIONS, sts["metadata"]["namespace"], body)
        except Exception as error:
            if is_status(error, 404):  # this API server does not serve controllerrevisions
                self._revisions_served = False
                return
            if not is_status(error, 409):
                raise
        self._revisions.add((sts["metadata"]["uid"], name))

    async def _rolling_update(self, sts: Obj, pods: dict[int, Obj], replicas: int, revision: str) -> None:
        strategy = sts["spec"].get("updateStrategy", {}) or {}
        if strategy.get("type") == "OnDelete":
            return
        partition = int((strategy.get("rollingUpdate", {}) or {}).get("partition", 0) or 0)
        if any(
            pod["metadata"].get("deletionTimestamp") or not _running_and_ready(pod) for pod in pods.values()
        ):
            return  # one pod at a time, only while everything else is healthy
        for index in sorted(pods, reverse=True):
            if index >= partition and index < replicas and _revision(pods[index]) != revision:
                await self._delete(sts, pods[index])
                return

    async def _create(self, sts: Obj, index: int, revision: str) -> None:
        name = f"{sts['metadata']['name']}-{index}"
        labels = {
            REVISION_LABEL: revision,
            "statefulset.kubernetes.io/pod-name": name,
            "apps.kubernetes.io/pod-index": str(index),
        }
        template = copy.deepcopy(sts["spec"].get("template", {}))
        pod = pod_from_template(template, sts, name=name, extra_labels=labels)
        pod["spec"]["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        volumes = pod["spec"].setdefault("volumes", [])
        for claim in sts["spec"].get("volumeClaimTemplates", []) or []:
            claim_name = claim.get("metadata", {}).get("name", "")
            if claim_name and not any(v.get("name") == claim_name for v in volumes):
                volumes.append(
                    {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}"}}
                )
        try:
            created = await self.client.create(PODS, sts["metadata"]["namespace"], pod)
        except Exception as error:
            if not is_status(error, 409):
                raise
            return  # the old pod of this ordinal is still terminating
        self.pods.observe(created)
        message = f"create Pod {name} in StatefulSet {sts['metadata']['name']} successful"
        self.events.normal(sts, "SuccessfulCreate", message, "statefulset-controller", STATEFULSET)

    async def _delete(self, sts: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        await delete_pod(self.client, self.pods, pod)
        message = f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful"
        self.events.normal(sts, "SuccessfulDelete", message, "statefulset-controller", STATEFULSET)

    async def _update_status(self, key: str, update_revision: str) -> None:
        sts = self.statefulsets.get(key)
        if sts is None:
            return
        pods = [
            pod
            for pod in self.pods.by_index("owner", sts["metadata"]["uid"])
            if ordinal(sts["metadata"]["name"], pod) is not None
            and not pod["metadata"].get("deletionTimestamp")
        ]
        status = sts.get("status", {}) or {}
        current_revision = status.get("currentRevision") or update_revision
        replicas = int(sts["spec"].get("replicas", 1))
        updated = sum(_revision(pod) == update_revision for pod in pods)
        ready = sum(is_pod_ready(pod) for pod in pods)
        if updated == replicas and ready == replicas and len(pods) == replicas:
            current_revision = update_revision
        new_status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": sum(_revision(pod) == current_revision for pod in pods),
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": status.get("collisionCount", 0),
        }
        await write_status(self.client, STATEFULSETS, self.statefulsets, sts, new_status)
