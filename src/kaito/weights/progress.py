"""Download progress a person can see: Prometheus gauges, periodic JSON log lines and a one-line status file.

The log lines follow `kaito.api.weights.WeightsProgress`, which the reconciler reads back from the pod's log.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from kaito.api.weights import GIB as GIB
from kaito.api.weights import MIB as MIB
from kaito.api.weights import WEIGHTS_PROGRESS_EVENT, WeightsProgress, progress_summary

log = structlog.get_logger(__name__)

PROGRESS_NAME = ".kaito-progress.json"
# Startup budget: weights at a conservative rate a slow disk or a busy hub still manages, plus the time
# an engine needs to load them and warm up.
BUDGET_RATE_BYTES = 50 * MIB
BUDGET_MARGIN_S = 300


def startup_budget_seconds(weight_bytes: int, *, rate_bytes: int = BUDGET_RATE_BYTES) -> int:
    """Seconds a pod may take to fetch `weight_bytes` of weights and start serving (for a startup probe)."""
    return BUDGET_MARGIN_S + math.ceil(max(0, weight_bytes) / rate_bytes)


@dataclass(frozen=True)
class WeightsMetrics:
    """The gauges, labelled by model; one instance per Prometheus registry."""

    bytes_done: Gauge
    bytes_total: Gauge
    rate: Gauge


@cache
def weights_metrics(registry: CollectorRegistry = REGISTRY) -> WeightsMetrics:
    return WeightsMetrics(
        bytes_done=Gauge(
            "kaito_weights_bytes_done", "Weight bytes present in the cache", ["model"], registry=registry
        ),
        bytes_total=Gauge(
            "kaito_weights_bytes_total", "Weight bytes the model needs", ["model"], registry=registry
        ),
        rate=Gauge(
            "kaito_weights_download_rate_bytes",
            "Recent weight download rate in bytes per second",
            ["model"],
            registry=registry,
        ),
    )


# The one-line summary, shared with the reconciler (which reads the progress lines from the pod's log).
summary_line = progress_summary

# Phases during which the heartbeat keeps logging (hashing or downloading a large model takes minutes).
_BUSY_PHASES = frozenset({"verifying", "downloading"})


@dataclass
class Progress:
    """Counts bytes for one model and reports them: `tick` is cheap; inside an event loop a heartbeat task
    logs a progress line every `interval` s while the work runs (so a stalled download shows as stalled)."""

    model: str
    status_file: Path | None = None
    metrics: WeightsMetrics = field(default_factory=weights_metrics)
    interval: float = 5.0
    total: int = 0
    done: int = 0
    transferred: int = 0
    rate: float | None = None  # bytes per second; None until measured
    phase: str = "checking"
    _window_start: float = field(default_factory=time.monotonic)
    _window_bytes: int = 0
    _last_report: float = 0.0
    _heartbeat: asyncio.Task[None] | None = field(default=None, repr=False)

    def verifying(self, total: int) -> None:
        """Checking the cached files (hashing a large model takes a while: say so)."""
        self.total, self.phase = total, "verifying"
        self.metrics.bytes_total.labels(self.model).set(total)
        self._start_heartbeat()
        self.report()

    def start(self, total: int, already: int) -> None:
        """Begin: `total` bytes needed, `already` of them valid in the cache."""
        self.total, self.done, self.phase = total, already, "downloading"
        self.metrics.bytes_total.labels(self.model).set(total)
        self.metrics.bytes_done.labels(self.model).set(already)
        self._window_start, self._window_bytes = time.monotonic(), 0
        self._start_heartbeat()

    def tick(self, size: int) -> None:
        """`size` more bytes arrived over the network."""
        self.done += size
        self.transferred += size
        self._window_bytes += size
        self.metrics.bytes_done.labels(self.model).set(self.done)
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._measure(now)
        if self._heartbeat is None and now - self._last_report >= self.interval:
            self.report()  # no event loop to beat in: report as bytes arrive

    def rewind(self, size: int) -> None:
        """`size` bytes counted as done must be fetched again (a corrupt file, a restarted transfer)."""
        self.done = max(0, self.done - size)
        self.metrics.bytes_done.labels(self.model).set(self.done)

    def _measure(self, now: float) -> None:
        self.rate = self._window_bytes / (now - self._window_start)
        self.metrics.rate.labels(self.model).set(self.rate)
        self._window_start, self._window_bytes = now, 0

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None and not self._heartbeat.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._heartbeat = loop.create_task(self._beat(asyncio.current_task()))

    async def _beat(self, owner: asyncio.Task[object] | None) -> None:
        """A progress line every `interval` s while busy; ends with the work (or the task that began it)."""
        while True:
            wait = self.interval - (time.monotonic() - self._last_report)
            await asyncio.sleep(max(wait, 0.01))
            if self.phase not in _BUSY_PHASES or (owner is not None and owner.done()):
                return
            now = time.monotonic()
            if now - self._last_report < self.interval:
                continue
            if self.phase == "downloading" and now - self._window_start >= 1.0:
                self._measure(now)  # nothing arrived since the last tick's window: the rate decays
            self.report()

    def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None and not task.done():
            task.cancel()

    def snapshot(self) -> WeightsProgress:
        """The progress line as the reconciler reads it back from the log."""
        rate = round(self.rate) if self.rate is not None and self.phase == "downloading" else None
        return WeightsProgress(
            model=self.model,
            phase=self.phase,
            bytes_done=self.done,
            bytes_total=self.total,
            rate_bytes_per_s=rate,
        )

    def line(self) -> str:
        return self.snapshot().summary()

    def report(self, error: str | None = None) -> None:
        """Log the current state (one JSON line, see `kaito.api.weights.WeightsProgress`) and rewrite the
        status file (small, so written inline)."""
        self._last_report = time.monotonic()
        snapshot = self.snapshot()
        emit = log.error if error else log.info
        emit(
            WEIGHTS_PROGRESS_EVENT,
            **snapshot.model_dump(exclude={"event"}),
            summary=error or snapshot.summary(),
        )
        if self.status_file is None:
            return
        body = {
            "model": self.model,
            "phase": self.phase,
            "bytesDone": self.done,
            "bytesTotal": self.total,
            "rateBytes": snapshot.rate_bytes_per_s or 0,
            "message": error or snapshot.summary(),
        }
        try:
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.status_file.with_name(self.status_file.name + ".tmp")
            scratch.write_text(json.dumps(body))
            scratch.replace(self.status_file)
        except OSError as err:  # a full disk must not hide the real error behind this one
            log.warning("cannot write the weights status file", path=str(self.status_file), error=str(err))

    def finish(self, phase: str = "ready") -> None:
        self._stop_heartbeat()
        self.phase, self.rate = phase, None
        self.done = max(self.done, self.total) if phase == "ready" else self.done
        self.metrics.bytes_done.labels(self.model).set(self.done)
        self.metrics.rate.labels(self.model).set(0)
        self.report()

    def fail(self, message: str) -> None:
        self._stop_heartbeat()
        self.phase, self.rate = "failed", None
        self.metrics.rate.labels(self.model).set(0)
        self.report(error=message)


async def read_status(cache_dir: Path) -> dict[str, object] | None:
    """The status file a fetch keeps in `cache_dir` (for a sidecar or a test), or None."""

    def _read() -> dict[str, object] | None:
        try:
            loaded = json.loads((cache_dir / PROGRESS_NAME).read_text())
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    return await asyncio.to_thread(_read)
