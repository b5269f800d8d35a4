"""Graceful pod deletion: how long a DELETE leaves a pod Terminating for its node's kubelet to stop it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kaito.localcluster.apiserver.storage import Obj, Storage
from kaito.localcluster.builtins.names import MANAGED_LABEL

PODS = ("", "pods")
_NODES = ("", "nodes")
_LEASES = ("coordination.k8s.io", "leases")
_NODE_LEASE_NAMESPACE = "kube-node-lease"
_DEFAULT_GRACE_S = 30
_DEFAULT_LEASE_S = 40
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def pod_grace_period(storage: Storage, old: Obj, options: dict[str, Any]) -> int:
    """Seconds the pod may take to stop; 0 means remove it at once.

    As kube-apiserver: DeleteOptions.gracePeriodSeconds, else ``spec.terminationGracePeriodSeconds`` (30);
    0 for a pod no kubelet runs (unbound) or one already finished. Unlike Kubernetes, a pod is only left to
    a kubelet that is there to finish it: its node is served by the local runner and its Lease is fresh —
    otherwise nothing would ever remove it.
    """
    spec = old.get("spec") or {}
    requested = options.get("gracePeriodSeconds")
    if requested is None:
        requested = spec.get("terminationGracePeriodSeconds")
    grace = _DEFAULT_GRACE_S if requested is None else int(requested)
    if grace < 0:
        grace = 1  # as kube-apiserver: a negative request is the shortest graceful one
    if grace == 0 or (old.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    node_name = spec.get("nodeName")
    if not node_name or not _kubelet_alive(storage, str(node_name)):
        return 0
    return grace


def _kubelet_alive(storage: Storage, node_name: str) -> bool:
    node = storage.get(_NODES, "", node_name)
    if node is None or (node["metadata"].get("labels") or {}).get(MANAGED_LABEL) != "true":
        return False
    lease = storage.get(_LEASES, _NODE_LEASE_NAMESPACE, node_name)
    spec = (lease or {}).get("spec") or {}
    renewed = _parse(spec.get("renewTime"))
    if renewed is None:
        return False
    duration = float(spec.get("leaseDurationSeconds") or _DEFAULT_LEASE_S)
    return (datetime.now(UTC) - renewed).total_seconds() < duration


def mark_graceful(meta: dict[str, Any], grace: int) -> None:
    """Set deletionTimestamp/deletionGracePeriodSeconds; a later DELETE may only shorten the grace."""
    stamp = _parse(meta.get("deletionTimestamp"))
    current = meta.get("deletionGracePeriodSeconds")
    now = datetime.now(UTC).replace(microsecond=0)
    if stamp is None:
        meta["deletionTimestamp"] = (now + timedelta(seconds=grace)).strftime(_STAMP)
        meta["deletionGracePeriodSeconds"] = grace
        return
    if current is not None and grace >= int(current):
        return
    started = stamp - timedelta(seconds=int(current or 0))
    shortened = started + timedelta(seconds=grace)
    if shortened < stamp:
        meta["deletionTimestamp"] = shortened.strftime(_STAMP)
    meta["deletionGracePeriodSeconds"] = grace


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
