"""Keeps the engine's LoRA adapters equal to the desired file: stage, load, unload, retry, and report state.

Level-triggered: every pass compares the desired list with what the engine serves (`/v1/models`), so an
engine that lost its adapters gets them back, and a change to the file never needs a pod restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from kaito.api.adapters import AdaptersReport, AdapterState, AdapterStatus, DesiredAdapter, DesiredAdapters
from kaito.serving import metrics
from kaito.serving.adapter_spec import DesiredFileError, read_desired
from kaito.serving.adapter_stage import AdapterStageError, AdapterStager
from kaito.serving.lora_engine import AdapterLoadError, LoraEngine

log = structlog.get_logger(__name__)
RETRY_INITIAL_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
# Old staged versions outlive their replacement this long, for requests scheduled before the swap.
OLD_VERSION_GRACE_SECONDS = 120.0


@dataclass
class _Tracked:
    desired: DesiredAdapter
    status: AdapterStatus
    path: str = ""
    retry_at: float = 0.0
    retry_delay: float = RETRY_INITIAL_SECONDS


class AdapterManager:
    """Runs in the serving process beside the engine; one reconcile pass at a time."""

    def __init__(
        self,
        engine: LoraEngine,
        stager: AdapterStager,
        desired_file: Path,
        status_file: Path,
        model_name: str,
        *,
        poll_seconds: float = 0.5,
        resync_seconds: float = 10.0,
    ) -> None:
        self._engine = engine
        self._stager = stager
        self._desired_file = desired_file
        self._status_file = status_file
        self._model = model_name
        self._poll = poll_seconds
        self._resync = resync_seconds
        self._tracked: dict[str, _Tracked] = {}
        self._desired = DesiredAdapters()
        self._file_error = ""
        self._file_signature: tuple[int, ...] | None = None
        self._lock = asyncio.Lock()
        self._cleanups: set[asyncio.Task[None]] = set()

    def report(self) -> AdaptersReport:
        ordered = [self._tracked[a.name].status for a in self._desired.adapters if a.name in self._tracked]
        return AdaptersReport(model=self._model, adapters=ordered, desired_file_error=self._file_error)

    async def run(self) -> None:
        """Poll the desired file for changes and resync against the engine periodically, until cancelled."""
        last_pass = 0.0
        while True:
            changed = await asyncio.to_thread(self._file_changed)
            due = any(
                t.status.state is AdapterState.FAILED and t.retry_at <= time.monotonic()
                for t in self._tracked.values()
            )
            if changed or due or time.monotonic() - last_pass >= self._resync:
                try:
                    await self.reconcile()
                except Exception:  # a pass must never kill the serving process
                    log.exception("adapter reconcile pass failed")
                last_pass = time.monotonic()
            await asyncio.sleep(self._poll)

    def _file_changed(self) -> bool:
        """A stat, not a read: a ConfigMap update swaps the file, so its identity (inode, mtime) changes."""
        try:
            info = os.stat(self._desired_file)
            signature: tuple[int, ...] = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            signature = ()
        changed = signature != self._file_signature
        self._file_signature = signature
        return changed

    async def reconcile(self) -> AdaptersReport:
        async with self._lock:
            try:
                self._desired = await asyncio.to_thread(read_desired, self._desired_file)
                self._file_error = ""
            except DesiredFileError as err:
                self._file_error = str(err)
                log.warning("desired adapters file is malformed; keeping the previous list", error=str(err))
            served = await self._engine.loaded()
            wanted = {a.name: a for a in self._desired.adapters}
            for name in sorted(set(served) - set(wanted)):
                await self._unload(name)
            for name in [n for n in self._tracked if n not in wanted]:
                del self._tracked[name]
            await asyncio.gather(*(self._ensure(adapter, served) for adapter in self._desired.adapters))
            report = self.report()
            await asyncio.to_thread(self._write_status, report)
            metrics.set_adapter_states({s.name: s.state.value for s in report.adapters})
            return report

    async def _ensure(self, adapter: DesiredAdapter, served: dict[str, str]) -> None:
        tracked = self._tracked.get(adapter.name)
        if tracked is None or tracked.desired != adapter:
            previous = tracked
            tracked = _Tracked(
                desired=adapter,
                status=AdapterStatus(
                    name=adapter.name,
                    source=adapter.source,
                    strength=adapter.strength,
                    state=AdapterState.PENDING,
                    reason="Staging",
                ),
            )
            if previous is not None and previous.path:
                tracked.path = previous.path
            self._tracked[adapter.name] = tracked
        path = str(self._stager.staged_path(adapter))
        if tracked.status.state is AdapterState.LOADED and served.get(adapter.name) == path:
            return
        if tracked.status.state is AdapterState.FAILED and time.monotonic() < tracked.retry_at:
            return
        started = time.monotonic()
        try:
            staged = await self._stager.stage(adapter)
            await self._engine.load(adapter.name, str(staged))
        except AdapterStageError as err:
            self._fail(tracked, err.reason, str(err))
            return
        except AdapterLoadError as err:
            self._fail(tracked, "EngineRejected", str(err))
            return
        elapsed = time.monotonic() - started
        old_path, tracked.path = tracked.path, str(staged)
        tracked.retry_delay = RETRY_INITIAL_SECONDS
        tracked.status = AdapterStatus(
            name=adapter.name,
            source=adapter.source,
            strength=adapter.strength,
            state=AdapterState.LOADED,
            reason="Loaded",
            message=f"serving as model {adapter.name!r}",
            load_seconds=round(elapsed, 3),
        )
        metrics.ADAPTER_LOAD_SECONDS.observe(elapsed)
        log.info("adapter loaded", adapter=adapter.name, source=adapter.source, seconds=round(elapsed, 3))
        if old_path and old_path != str(staged):
            self._later_remove_versions(adapter.name, keep=staged)

    def _fail(self, tracked: _Tracked, reason: str, message: str) -> None:
        adapter = tracked.desired
        log.warning("adapter failed", adapter=adapter.name, reason=reason, message=message)
        metrics.ADAPTER_FAILURES.labels(reason=reason).inc()
        tracked.retry_at = time.monotonic() + tracked.retry_delay
        tracked.retry_delay = min(tracked.retry_delay * 2, RETRY_MAX_SECONDS)
        if tracked.status.state is AdapterState.FAILED and tracked.status.reason == reason:
            tracked.status = tracked.status.model_copy(update={"message": message})
            return
        tracked.status = AdapterStatus(
            name=adapter.name,
            source=adapter.source,
            strength=adapter.strength,
            state=AdapterState.FAILED,
            reason=reason,
            message=message,
        )

    async def _unload(self, name: str) -> None:
        try:
            await self._engine.unload(name)
        except AdapterLoadError as err:
            log.warning("adapter unload failed", adapter=name, error=str(err))
            return
        log.info("adapter unloaded", adapter=name)
        self._later_remove_versions(name, keep=None)

    def _later_remove_versions(self, name: str, keep: Path | None) -> None:
        async def remove() -> None:
            await asyncio.sleep(OLD_VERSION_GRACE_SECONDS)
            if keep is None and name in self._tracked:
                return  # re-added meanwhile
            await self._stager.remove_other_versions(name, keep)

        task = asyncio.create_task(remove())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    def _write_status(self, report: AdaptersReport) -> None:
        self._status_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = self._status_file.with_name(f".{self._status_file.name}.tmp")
        scratch.write_text(report.model_dump_json(by_alias=True, indent=2))
        scratch.replace(self._status_file)

    async def aclose(self) -> None:
        for task in list(self._cleanups):
            task.cancel()
