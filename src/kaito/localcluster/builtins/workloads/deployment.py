"""Deployment controller: one ReplicaSet per template revision, rolled with maxSurge/maxUnavailable."""

from __future__ import annotations

import copy
import math
from typing import Any

from kaito.localcluster.builtins.client import DEPLOYMENTS, REPLICASETS, KubeClient, is_status
from kaito.localcluster.builtins.events import DEPLOYMENT, EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.workloads.common import (
    enqueue_owner,
    enqueue_self,
    owner_reference,
    set_condition,
    template_hash,
    write_status,
)
from kaito.localcluster.builtins.workqueue import Controller

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def resolve_fraction(value: Any, total: int, round_up: bool) -> int:
    """`maxSurge`/`maxUnavailable`: an int, or a percentage of `total`."""
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def _replicas(rs: Obj) -> int:
    return int(rs.get("spec", {}).get("replicas", 0) or 0)


def _available(rs: Obj) -> int:
    return int(rs.get("status", {}).get("availableReplicas", 0) or 0)


def _owner_name(rs: Obj) -> str:
    refs = rs["metadata"].get("ownerReferences") or []
    return next((str(ref.get("name", "")) for ref in refs if ref.get("controller")), "")


def _revision(rs: Obj) -> int:
    text = rs["metadata"].get("annotations", {}).get(REVISION, "0")
    return int(text) if text.isdigit() else 0


class DeploymentController(Controller):
    name = "deployment"

    def __init__(
        self, client: KubeClient, deployments: Informer, replicasets: Informer, events: EventRecorder
    ) -> None:
        super().__init__()
        self.client = client
        self.events = events
        self.deployments = deployments
        self.replicasets = replicasets
        deployments.add_handler(enqueue_self(self.enqueue))
        replicasets.add_handler(enqueue_owner("Deployment", self.enqueue))

    async def reconcile(self, key: str) -> None:
        deploy = self.deployments.get(key)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return
        spec = deploy.get("spec", {})
        owned = self.replicasets.by_index("owner", deploy["metadata"]["uid"])
        template = spec.get("template", {})
        pod_hash = template_hash(template)
        new_rs = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH_LABEL) == pod_hash), None
        )
        old = sorted((rs for rs in owned if rs is not new_rs), key=_revision)
        created = False
        if spec.get("paused"):
            await self._update_status(deploy, new_rs, old, created)
            return
        if new_rs is None:
            new_rs = await self._create_rs(deploy, pod_hash, old)
            created = True
        replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy", {}) or {}
        if strategy.get("type") == "Recreate":
            await self._recreate(new_rs, old, replicas)
        else:
            await self._roll(deploy, new_rs, old, replicas)
        await self._cleanup(deploy, old)
        await self._update_status(deploy, new_rs, old, created)

    async def _create_rs(self, deploy: Obj, pod_hash: str, old: list[Obj]) -> Obj:
        meta = deploy["metadata"]
        template = copy.deepcopy(deploy["spec"].get("template", {}))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(deploy["spec"].get("selector", {}))
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        revision = max((_revision(rs) for rs in old), default=0) + 1
        replicas = int(deploy["spec"].get("replicas", 1))
        has_old_pods = any(_replicas(rs) for rs in old)
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                },
                "ownerReferences": [owner_reference(deploy)],
            },
            "spec": {
                "replicas": 0 if has_old_pods else replicas,
                "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            rs = await self.client.create(REPLICASETS, meta["namespace"], body)
        except Exception as error:
            if not is_status(error, 409):
                raise
            rs = await self.client.get(REPLICASETS, meta["namespace"], body["metadata"]["name"])
        self.replicasets.observe(rs)
        if body["spec"]["replicas"]:
            message = f"Scaled up replica set {body['metadata']['name']} to {body['spec']['replicas']}"
            self.events.normal(deploy, "ScalingReplicaSet", message, "deployment-controller", DEPLOYMENT)
        return rs

    async def _scale(self, rs: Obj, replicas: int, deploy_replicas: int | None = None) -> None:
        if _replicas(rs) == replicas:
            return
        meta = rs["metadata"]
        patch: dict[str, Any] = {"spec": {"replicas": replicas}}
        if deploy_replicas is not None:
            patch["metadata"] = {
                "annotations": {"deployment.kubernetes.io/desired-replicas": str(deploy_replicas)}
            }
        self.replicasets.observe(await self.client.patch(REPLICASETS, meta["namespace"], meta["name"], patch))
        owner = self.deployments.get(f"{meta['namespace']}/{_owner_name(rs)}")
        if owner is not None:
            direction = "up" if replicas > _replicas(rs) else "down"
            message = f"Scaled {direction} replica set {meta['name']} to {replicas} from {_replicas(rs)}"
            self.events.normal(owner, "ScalingReplicaSet", message, "deployment-controller", DEPLOYMENT)

    async def _recreate(self, new_rs: Obj, old: list[Obj], replicas: int) -> None:
        for rs in old:
            await self._scale(rs, 0)
        if any(int(rs.get("status", {}).get("replicas", 0) or 0) for rs in old):
            return  # old pods still running
        await self._scale(new_rs, replicas, replicas)

    async def _roll(self, deploy: Obj, new_rs: Obj, old: list[Obj], replicas: int) -> None:
        rolling = (deploy["spec"].get("strategy", {}) or {}).get("rollingUpdate", {}) or {}
        max_surge = resolve_fraction(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        max_unavailable = resolve_fraction(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        if not any(_replicas(rs) for rs in old):
            await self._scale(new_rs, replicas, replicas)
            return
        # Scale the new ReplicaSet up within the surge allowance.
        total = sum(_replicas(rs) for rs in [new_rs, *old])
        if _replicas(new_rs) < replicas:
            room = replicas + max_surge - total
            if room > 0:
                await self._scale(new_rs, min(replicas, _replicas(new_rs) + room), replicas)
        elif _replicas(new_rs) > replicas:
            await self._scale(new_rs, replicas, replicas)
        # Scale old ReplicaSets down while keeping replicas - maxUnavailable available.
        total = sum(_replicas(rs) for rs in [new_rs, *old])
        new_unavailable = max(_replicas(new_rs) - _available(new_rs), 0)
        budget = total - (replicas - max_unavailable) - new_unavailable
        for rs in old:  # oldest revision first
            if budget <= 0:
                break
            cut = min(_replicas(rs), budget)
            if cut > 0:
                await self._scale(rs, _replicas(rs) - cut)
                budget -= cut

    async def _cleanup(self, deploy: Obj, old: list[Obj]) -> None:
        limit = int(deploy["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _replicas(rs) == 0 and not rs.get("status", {}).get("replicas")]
        for rs in idle[: max(len(idle) - limit, 0)]:
            meta = rs["metadata"]
            try:
                self.replicasets.forget(
                    await self.client.delete(REPLICASETS, meta["namespace"], meta["name"])
                )
            except Exception as error:
                if not is_status(error, 404):
                    raise

    async def _update_status(self, deploy: Obj, new_rs: Obj | None, old: list[Obj], created: bool) -> None:
        key = f"{deploy['metadata']['namespace']}/{deploy['metadata']['name']}"
        deploy = self.deployments.get(key) or deploy
        spec = deploy.get("spec", {})
        replicas = int(spec.get("replicas", 1))
        every = [rs for rs in [new_rs, *old] if rs is not None]
        every = [
            self.replicasets.get(f"{rs['metadata']['namespace']}/{rs['metadata']['name']}") or rs
            for rs in every
        ]
        new_rs = every[0] if new_rs is not None else None

        def total(field: str, sets: list[Obj]) -> int:
            return sum(int(rs.get("status", {}).get(field, 0) or 0) for rs in sets)

        available = total("availableReplicas", every)
        updated = total("replicas", [new_rs]) if new_rs else 0
        rolling = (spec.get("strategy", {}) or {}).get("rollingUpdate", {}) or {}
        max_unavailable = (
            resolve_fraction(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
            if (spec.get("strategy", {}) or {}).get("type") != "Recreate"
            else replicas
        )
        conditions = list(deploy.get("status", {}).get("conditions", []) or [])
        if available >= replicas - max_unavailable:
            available_condition = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available_condition = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        conditions = set_condition(conditions, "Available", *available_condition, update_time=True)
        if new_rs is not None:
            rs_name = new_rs["metadata"]["name"]
            complete = (
                updated == replicas
                and total("availableReplicas", [new_rs]) >= replicas
                and total("replicas", every) == replicas
            )
            if complete:
                progress = ("NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
            elif created:
                progress = ("NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
            else:
                progress = ("ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            conditions = set_condition(conditions, "Progressing", "True", *progress, update_time=True)
        all_replicas = total("replicas", every)
        status = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": all_replicas,
            "updatedReplicas": updated,
            "readyReplicas": total("readyReplicas", every),
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
            "conditions": conditions,
        }
        if new_rs is not None:
            revision = new_rs["metadata"].get("annotations", {}).get(REVISION)
            annotations = deploy["metadata"].get("annotations", {}) or {}
            if revision and annotations.get(REVISION) != revision:
                meta = deploy["metadata"]
                patched = await self.client.patch(
                    DEPLOYMENTS,
                    meta["namespace"],
                    meta["name"],
                    {"metadata": {"annotations": {REVISION: revision}}},
                )
                self.deployments.observe(patched)
                deploy = patched
        await write_status(self.client, DEPLOYMENTS, self.deployments, deploy, status)
