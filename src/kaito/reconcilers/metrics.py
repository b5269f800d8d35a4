"""Prometheus metrics of the workspace reconciler: Workspaces by state and preset, reconcile outcomes."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from kaito.controllers.objects import ObjectKey

WORKSPACES_BY_STATE: Final = Gauge(
    "kaito_workspaces", "Workspaces known to the reconciler, by state and preset", ["state", "preset"]
)
RECONCILE_OUTCOMES: Final = Counter(
    "kaito_workspace_reconcile_total", "Workspace reconcile passes by outcome", ["outcome"]
)


class StateTracker:
    """Keeps the by-state gauge equal to the current state of every Workspace (one label set each)."""

    def __init__(self) -> None:
        self._current: dict[ObjectKey, tuple[str, str]] = {}

    def observe(self, key: ObjectKey, state: str, preset: str) -> None:
        labels = (state, preset)
        old = self._current.get(key)
        if old == labels:
            return
        if old is not None:
            WORKSPACES_BY_STATE.labels(*old).dec()
        WORKSPACES_BY_STATE.labels(*labels).inc()
        self._current[key] = labels

    def forget(self, key: ObjectKey) -> None:
        old = self._current.pop(key, None)
        if old is not None:
            WORKSPACES_BY_STATE.labels(*old).dec()
