"""Training progress (step, loss, epoch, ETA) as structured logs and Prometheus gauges."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import CollectorRegistry, Gauge

log = structlog.get_logger(__name__)


class TuningMetrics:
    """The gauges a tuning pod exposes on its metrics port."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.step = Gauge("kaito_tuning_step", "Optimizer steps completed.", registry=registry)
        self.max_steps = Gauge(
            "kaito_tuning_max_steps", "Optimizer steps the run will take.", registry=registry
        )
        self.loss = Gauge("kaito_tuning_loss", "Training loss at the last logged step.", registry=registry)
        self.eval_loss = Gauge("kaito_tuning_eval_loss", "Loss on the held-out split.", registry=registry)
        self.epoch = Gauge("kaito_tuning_epoch", "Epochs completed (fractional).", registry=registry)
        self.eta = Gauge(
            "kaito_tuning_eta_seconds", "Estimated seconds until training ends.", registry=registry
        )
        self.learning_rate = Gauge("kaito_tuning_learning_rate", "Current learning rate.", registry=registry)
        self.completed = Gauge("kaito_tuning_completed", "1 once the adapter is saved.", registry=registry)


@dataclass
class ProgressTracker:
    """Turns trainer log events into log lines and gauge values, and keeps the loss history."""

    metrics: TuningMetrics
    clock: Callable[[], float] = time.monotonic
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    _started: float | None = None
    _start_step: int = 0

    def begin(self, max_steps: int, step: int = 0) -> None:
        self._started = self.clock()
        self._start_step = step
        self.metrics.max_steps.set(max_steps)
        self.metrics.step.set(step)
        log.info("training started", max_steps=max_steps)

    def eta_seconds(self, step: int, max_steps: int) -> float | None:
        done = step - self._start_step
        if self._started is None or done <= 0 or max_steps <= 0:
            return None
        per_step = (self.clock() - self._started) / done
        return max(0.0, per_step * (max_steps - step))

    def record(self, step: int, max_steps: int, epoch: float | None, values: dict[str, float]) -> None:
        """One trainer log event: `loss`, `learning_rate`, `eval_loss` may be in `values`."""
        self.metrics.step.set(step)
        if epoch is not None:
            self.metrics.epoch.set(epoch)
        eta = self.eta_seconds(step, max_steps)
        if eta is not None:
            self.metrics.eta.set(eta)
        fields: dict[str, float | int | None] = {"step": step, "max_steps": max_steps, "epoch": epoch}
        if "loss" in values:
            self.losses.append((step, values["loss"]))
            self.metrics.loss.set(values["loss"])
            fields["loss"] = round(values["loss"], 5)
        if "eval_loss" in values:
            self.eval_losses.append((step, values["eval_loss"]))
            self.metrics.eval_loss.set(values["eval_loss"])
            fields["eval_loss"] = round(values["eval_loss"], 5)
        if "learning_rate" in values:
            self.metrics.learning_rate.set(values["learning_rate"])
            fields["learning_rate"] = values["learning_rate"]
        fields["eta_seconds"] = None if eta is None else round(eta, 1)
        log.info("training progress", **fields)

    def finish(self, step: int) -> None:
        self.metrics.step.set(step)
        self.metrics.eta.set(0)
        self.metrics.completed.set(1)
