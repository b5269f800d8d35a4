"""Kubernetes Events from the built-ins (Scheduled, Started, BackOff...); repeats fold into `count`."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import structlog

from kaito.localcluster.builtins.client import EVENTS, KubeClient
from kaito.localcluster.builtins.informer import Obj
from kaito.localcluster.builtins.workloads.common import now_stamp

log = structlog.get_logger(__name__)
_FOLD_WINDOW_S = 600.0
Ref = tuple[str, str]
POD: Ref = ("v1", "Pod")
REPLICASET: Ref = ("apps/v1", "ReplicaSet")
DEPLOYMENT: Ref = ("apps/v1", "Deployment")
STATEFULSET: Ref = ("apps/v1", "StatefulSet")
JOB: Ref = ("batch/v1", "Job")


class EventRecorder:
    """Fire-and-forget: recording never blocks or fails the caller."""

    def __init__(self, client: KubeClient, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self._recent: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def normal(self, obj: Obj, reason: str, message: str, component: str, ref: Ref = POD) -> None:
        self.record(obj, "Normal", reason, message, component, ref)

    def warning(self, obj: Obj, reason: str, message: str, component: str, ref: Ref = POD) -> None:
        self.record(obj, "Warning", reason, message, component, ref)

    def record(self, obj: Obj, kind: str, reason: str, message: str, component: str, ref: Ref = POD) -> None:
        """`ref` is the (apiVersion, kind) of `obj`: list items carry neither."""
        if not self.enabled:
            return
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", "")), kind, reason, message)
        now = time.monotonic()
        previous = self._recent.get(key)
        if previous is not None and now - previous[2] < _FOLD_WINDOW_S:
            name, count, _ = previous
            self._recent[key] = (name, count + 1, now)
            patch = {"count": count + 1, "lastTimestamp": now_stamp()}
            self._spawn(self._send_patch(namespace, name, patch))
            return
        name = f"{meta.get('name', 'object')}.{secrets.token_hex(8)}"
        self._recent[key] = (name, 1, now)
        if len(self._recent) > 5000:
            self._forget_old(now)
        stamp = now_stamp()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": ref[0],
                "kind": ref[1],
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        self._spawn(self._send_create(namespace, event))

    def _forget_old(self, now: float) -> None:
        for key, (_, _, seen) in list(self._recent.items()):
            if now - seen >= _FOLD_WINDOW_S:
                del self._recent[key]

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_create(self, namespace: str, event: dict[str, Any]) -> None:
        try:
            await self.client.create(EVENTS, namespace, event)
        except Exception as error:
            log.debug("event.dropped", reason=event["reason"], error=repr(error))

    async def _send_patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        try:
            await self.client.patch(EVENTS, namespace, name, patch)
        except Exception as error:
            log.debug("event.dropped", name=name, error=repr(error))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
