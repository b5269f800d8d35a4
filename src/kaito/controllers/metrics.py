"""Prometheus metrics of the runtime, named like controller-runtime's so existing dashboards fit."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (1e-6, 1e-5, 1e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0)

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of the workqueue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Adds handled by the workqueue", ["name"])
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long an item waits in the workqueue before it is handed to a worker",
    ["name"],
    buckets=_LATENCY_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long processing an item from the workqueue takes",
    ["name"],
    buckets=_LATENCY_BUCKETS,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Rate-limited re-adds handled by the workqueue", ["name"]
)
WORKQUEUE_UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "Seconds of work in progress that has not been observed by work_duration yet",
    ["name"],
)
WORKQUEUE_LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "Seconds the longest-running processor of the workqueue has been running",
    ["name"],
)

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Reconciliations per controller and result",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total", "Reconciliations that raised an error", ["controller"]
)
RECONCILE_TERMINAL_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Reconciliations that raised a terminal (not retried) error",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Time per reconciliation",
    ["controller"],
    buckets=_LATENCY_BUCKETS,
)
ACTIVE_WORKERS = Gauge("controller_runtime_active_workers", "Workers currently reconciling", ["controller"])
MAX_CONCURRENT = Gauge(
    "controller_runtime_max_concurrent_reconciles", "Workers configured per controller", ["controller"]
)
LEADER = Gauge("leader_election_master_status", "1 while this process holds the lease", ["name"])
EVENTS_DROPPED = Counter(
    "kaito_events_dropped_total", "Kubernetes Events dropped by the rate limit", ["reason"]
)
