"""kaito's own Prometheus metrics, in the default registry so they appear beside vLLM's on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ADAPTER_STATE = Gauge(
    "kaito_adapter_state",
    "1 for the state each desired LoRA adapter is in (Pending, Loaded, Failed), else 0.",
    ["adapter", "state"],
)
ADAPTER_LOAD_SECONDS = Histogram(
    "kaito_adapter_load_seconds",
    "Time from deciding to load an adapter to the engine serving it (pull, stage, load).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
ADAPTER_FAILURES = Counter(
    "kaito_adapter_failures_total", "Adapter staging or load failures, by reason.", ["reason"]
)
LEGACY_CHAT_REQUESTS = Counter(
    "kaito_legacy_chat_requests_total", "Requests to the legacy /chat endpoint, by HTTP status.", ["status"]
)
SERVE_INFO = Gauge(
    "kaito_serve_info",
    "Constant 1, labelled with what this pod serves and how it is split.",
    ["model", "tensor_parallel_size", "pipeline_parallel_size", "gpus"],
)
GROUP_NODES_READY = Gauge(
    "kaito_group_nodes_ready", "Nodes of a multi-node group that joined the Ray cluster."
)

_STATES = ("Pending", "Loaded", "Failed")
_known_adapters: set[str] = set()


def set_adapter_states(states: dict[str, str]) -> None:
    """Publish each adapter's state; adapters no longer desired disappear from the gauge."""
    for gone in _known_adapters - set(states):
        for state in _STATES:
            ADAPTER_STATE.remove(gone, state)
    for name, current in states.items():
        for state in _STATES:
            ADAPTER_STATE.labels(adapter=name, state=state).set(1 if state == current else 0)
    _known_adapters.clear()
    _known_adapters.update(states)
