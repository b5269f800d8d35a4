"""Prometheus metrics of the provisioner: cloud operation durations and outcomes, garbage collected."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_OPERATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)

CLOUD_OPERATION_SECONDS = Histogram(
    "kaito_provisioner_cloud_operation_duration_seconds",
    "Duration of cloud operations (create waits until the instance succeeds, delete until it is gone)",
    ["provider", "operation", "result"],
    buckets=_OPERATION_BUCKETS,
)
LAUNCH_FAILURES = Counter(
    "kaito_provisioner_launch_failures_total",
    "Failed instance launches by the cloud's error code",
    ["provider", "code"],
)
GARBAGE_COLLECTED = Counter(
    "kaito_provisioner_garbage_collected_total",
    "Orphaned instances and NodeClaims whose instance vanished, deleted by the garbage collector",
    ["provider", "kind"],
)
