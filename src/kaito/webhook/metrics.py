"""Prometheus metrics of the admission webhook (default registry, served on the manager's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ADMISSION_REQUESTS = Counter(
    "kaito_webhook_admission_requests_total",
    "Admission requests answered, by webhook (validate/mutate), operation and result "
    "(allowed, denied, patched, malformed).",
    ["webhook", "operation", "result"],
)
ADMISSION_SECONDS = Histogram(
    "kaito_webhook_admission_duration_seconds",
    "Time to answer one admission request.",
    ["webhook"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CERTIFICATE_NOT_AFTER = Gauge(
    "kaito_webhook_certificate_not_after_timestamp_seconds",
    "When the serving certificate in use expires (Unix time).",
)
CERTIFICATE_ROTATIONS = Counter(
    "kaito_webhook_certificate_rotations_total",
    "Serving certificates swapped in without a restart (generated here or loaded from the Secret/files).",
)
