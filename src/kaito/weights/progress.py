"""Download progress a person can see: Prometheus gauges, periodic log lines and a one-line status file."""

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

log = structlog.get_logger(__name__)

MIB = 2**20
GIB = 2**30
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


def summary_line(done: int, total: int, rate: float, phase: str = "downloading") -> str:
    """E.g. `downloading weights: 3.1/7.1 GiB, 210 MiB/s` (MiB for models under a GiB)."""
    unit, scale = ("GiB", GIB) if total >= GIB else ("MiB", MIB)
    amounts = f"{done / scale:.1f}/{total / scale:.1f} {unit}"
    if phase == "downloading":
        return f"downloading weights: {amounts}, {rate / MIB:.0f} MiB/s"
    if phase == "verifying":
        return f"verifying cached weights: {total / scale:.1f} {unit}"
    return f"weights {phase}: {amounts}"


@dataclass
class Progress:
    """Counts bytes for one model and reports them; `tick` is cheap, reporting happens every `interval` s."""

    model: str
    status_file: Path | None = None
    metrics: WeightsMetrics = field(default_factory=weights_metrics)
    interval: float = 5.0
    total: int = 0
    done: int = 0
    transferred: int = 0
    rate: float = 0.0
    phase: str = "checking"
    _window_start: float = field(default_factory=time.monotonic)
    _window_bytes: int = 0
    _last_report: float = 0.0

    def verifying(self, total: int) -> None:
        """Checking the cached files (hashing a large model takes a while: say so)."""
        self.total, self.phase = total, "verifying"
        self.metrics.bytes_total.labels(self.model).set(total)
        self.report()

    def start(self, total: int, already: int) -> None:
        """Begin: `total` bytes needed, `already` of them valid in the cache."""
        self.total, self.done, self.phase = total, already, "downloading"
        self.metrics.bytes_total.labels(self.model).set(total)
        self.metrics.bytes_done.labels(self.model).set(already)
        self._window_start = time.monotonic()

    def tick(self, size: int) -> None:
        """`size` more bytes arrived over the network."""
        self.done += size
        self.transferred += size
        self._window_bytes += size
        self.metrics.bytes_done.labels(self.model).set(self.done)
        now = time.monotonic()
        elapsed = now - self._window_start
        if elapsed >= 1.0:
            self.rate = self._window_bytes / elapsed
            self.metrics.rate.labels(self.model).set(self.rate)
            self._window_start, self._window_bytes = now, 0
        if now - self._last_report >= self.interval:
            self._last_report = now
            self.report()

    def rewind(self, size: int) -> None:
        """`size` bytes counted as done must be fetched again (a corrupt file, a restarted transfer)."""
        self.done = max(0, self.done - size)
        self.metrics.bytes_done.labels(self.model).set(self.done)

    def line(self) -> str:
        return summary_line(self.done, self.total, self.rate, self.phase)

    def report(self, error: str | None = None) -> None:
        """Log the current state and rewrite the status file (small, so written inline)."""
        emit = log.error if error else log.info
        emit(
            "weights progress",
            model=self.model,
            phase=self.phase,
            bytes_done=self.done,
            bytes_total=self.total,
            rate_bytes=round(self.rate),
            summary=error or self.line(),
        )
        if self.status_file is None:
            return
        body = {
            "model": self.model,
            "phase": self.phase,
            "bytesDone": self.done,
            "bytesTotal": self.total,
            "rateBytes": round(self.rate),
            "message": error or self.line(),
        }
        try:
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.status_file.with_name(self.status_file.name + ".tmp")
            scratch.write_text(json.dumps(body))
            scratch.replace(self.status_file)
        except OSError as err:  # a full disk must not hide the real error behind this one
            log.warning("cannot write the weights status file", path=str(self.status_file), error=str(err))

    def finish(self, phase: str = "ready") -> None:
        self.phase, self.rate = phase, 0.0
        self.done = max(self.done, self.total) if phase == "ready" else self.done
        self.metrics.bytes_done.labels(self.model).set(self.done)
        self.metrics.rate.labels(self.model).set(0)
        self.report()

    def fail(self, message: str) -> None:
        self.phase, self.rate = "failed", 0.0
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
