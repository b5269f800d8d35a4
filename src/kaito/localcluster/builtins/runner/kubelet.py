"""The kubelet of every managed node: starts a PodWorker per bound pod and tears it down on deletion."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from kaito.localcluster.builtins.client import PODS, KubeClient, is_status
from kaito.localcluster.builtins.config import BuiltinsConfig
from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj, object_key
from kaito.localcluster.builtins.node_simulator import is_managed
from kaito.localcluster.builtins.runner.logs import read_pod_log
from kaito.localcluster.builtins.runner.pod_worker import PodWorker, RunnerContext

log = structlog.get_logger(__name__)


class Kubelet:
    """Serves pods bound to nodes labelled `localcluster.kaito.sh/managed=true`."""

    def __init__(
        self,
        client: KubeClient,
        config: BuiltinsConfig,
        pods: Informer,
        nodes: Informer,
        events: EventRecorder,
    ) -> None:
        self.client = client
        self.events = events
        self.config = config
        self.pods = pods
        self.nodes = nodes
        self.workers: dict[str, PodWorker] = {}  # by pod uid
        self._stopping: set[str] = set()
        self._finalized: set[str] = set()  # deleting pods we asked the server to remove
        self._background: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._ctx: RunnerContext | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._ctx = RunnerContext(self.client, self.config, self._session, self.pods, self.events)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        for pod in list(self.pods.objects.values()):
            self._on_pod("ADDED", pod)

    def _serves(self, pod: Obj) -> bool:
        node_name = pod.get("spec", {}).get("nodeName")
        if not node_name:
            return False
        node = self.nodes.get(node_name)
        return node is not None and is_managed(node)

    def _on_node(self, kind: str, node: Obj) -> None:
        if kind == "ADDED":
            for pod in self.pods.by_index("node", node["metadata"]["name"]):
                self._on_pod("MODIFIED", pod)

    def _on_pod(self, kind: str, pod: Obj) -> None:
        uid = pod["metadata"].get("uid", "")
        worker = self.workers.get(uid)
        if kind == "DELETED":
            self._finalized.discard(uid)
            if worker is not None:
                grace = float(pod.get("spec", {}).get("terminationGracePeriodSeconds", 30))
                if pod["metadata"].get("deletionTimestamp"):  # forced: what is left of the grace, >= 1 s
                    asked = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
                    grace = max(_remaining_grace(pod, asked), 1.0)
                if uid in self._stopping:
                    worker.kill_deadline.shorten(grace)
                self._stop_worker(uid, worker, grace, delete_object=False)
            return
        if worker is None:
            if uid in self._stopping or not self._serves(pod) or self._ctx is None:
                return
            if pod["metadata"].get("deletionTimestamp"):
                # Nothing runs for it here (finished, or already stopped): just finish the deletion, once.
                if uid not in self._finalized:
                    self._finalized.add(uid)
                    self._spawn(self._delete_finished(pod))
                return
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            worker = PodWorker(self._ctx, pod)
            self.workers[uid] = worker
            worker.start()
            log.debug("kubelet.pod_started", pod=object_key(pod))
        else:
            worker.update(pod)
        if pod["metadata"].get("deletionTimestamp"):
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            if grace is None:
                grace = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            if uid in self._stopping:
                worker.kill_deadline.shorten(_remaining_grace(pod, float(grace)))  # a shorter DELETE
            else:
                self._stop_worker(uid, worker, float(grace), delete_object=True)

    def _stop_worker(self, uid: str, worker: PodWorker, grace: float, delete_object: bool) -> None:
        if uid in self._stopping:
            return
        self._stopping.add(uid)

        async def stop() -> None:
            try:
                await worker.terminate(grace, delete_object)
            finally:
                self.workers.pop(uid, None)
                self._stopping.discard(uid)
                if delete_object:
                    self._finalized.add(uid)

        self._spawn(stop())

    async def _delete_finished(self, pod: Obj) -> None:
        """A deleting pod with nothing running here (e.g. finished before a restart of the runner)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(
                PODS, meta["namespace"], meta["name"], grace_period_seconds=0, uid=meta["uid"]
            )
        except Exception as error:
            if not is_status(error, 404, 409):
                log.warning("kubelet.delete_failed", pod=object_key(pod), error=repr(error))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop every container of every pod (the pods stay in the API, as when a node goes down)."""
        workers = list(self.workers.items())
        for uid, _ in workers:
            self._stopping.add(uid)
        stops = (worker.terminate(grace_s, delete_object=False) for _, worker in workers)
        await asyncio.gather(*stops, return_exceptions=True)
        self.workers.clear()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    async def read_log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        """A LogProvider for the API server's `pods/log`."""
        pod = self.pods.get(f"{namespace}/{name}")
        return await read_pod_log(pod, query) if pod is not None else ""


def _remaining_grace(pod: Obj, grace: float) -> float:
    """What is left of the grace period; the deletionTimestamp (to the second) caps it once shortened."""
    stamp = pod["metadata"].get("deletionTimestamp")
    try:
        deadline = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return grace
    left = (deadline - datetime.now(UTC)).total_seconds()
    return min(grace, left + 1.0)  # +1: the stamp is truncated to the second
