"""Download progress in InferenceReady: the newest progress line of a downloading pod's `weights` log.

While the init container fetches, nothing the operator watches changes, so a pass that shows progress asks to
run again after `weights_progress_poll_s`. One short, bounded log read per pass and Workspace; any failure to
read it leaves the generic "downloading" message, never a failed reconcile.
"""

from __future__ import annotations

from typing import Final

import structlog

from kaito.api.weights import WEIGHTS_CONTAINER, WeightsProgress, latest_progress
from kaito.api.workspace import Workspace
from kaito.controllers.client import KubeClient
from kaito.controllers.controller import Result
from kaito.reconcilers.pods import DOWNLOADING_WEIGHTS, PodProblem
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.status import StatusBuilder

log = structlog.get_logger(__name__)

# The fetch logs a line every few seconds: the last lines hold the newest; the byte cap bounds a bad line.
LOG_TAIL_LINES: Final = 20
LOG_LIMIT_BYTES: Final = 64 * 1024


class WeightsProgressReader:
    """Reads a downloading pod's progress into the Workspace status (see the module docstring)."""

    def __init__(self, client: KubeClient, settings: WorkspaceSettings) -> None:
        self.client = client
        self.settings = settings
        self._warned = False

    async def show(
        self, workspace: Workspace, problem: PodProblem | None, builder: StatusBuilder
    ) -> Result | None:
        """When the inference pods' problem (the one InferenceReady names) is a weights download, name its
        bytes and rate in InferenceReady and requeue to refresh them."""
        if problem is None or problem.reason != DOWNLOADING_WEIGHTS:
            return None
        progress = await self.read(workspace.metadata.namespace, problem.pod)
        if progress is not None:
            builder.inference(False, DOWNLOADING_WEIGHTS, f"pod {problem.pod}: {progress.summary()}")
            builder.summarize_inference()
        return Result(requeue_after=self.settings.weights_progress_poll_s)

    async def read(self, namespace: str, pod: str) -> WeightsProgress | None:
        """The newest progress line of the pod's `weights` container, or None (no line yet, or no log)."""
        try:
            text = await self.client.read_log(
                namespace,
                pod,
                container=WEIGHTS_CONTAINER,
                tail_lines=LOG_TAIL_LINES,
                limit_bytes=LOG_LIMIT_BYTES,
                request_timeout=self.settings.weights_log_timeout_s,
            )
        except Exception as error:  # the status falls back to the generic message; the next pass retries
            # Once at warning (e.g. RBAC lacks pods/log get), then quietly: this repeats every poll.
            emit = log.debug if self._warned else log.warning
            self._warned = True
            emit("cannot read the weights progress", pod=f"{namespace}/{pod}", error=repr(error))
            return None
        return latest_progress(text)
