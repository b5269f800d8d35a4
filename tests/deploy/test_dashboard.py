"""The Grafana dashboard queries metrics that exist: kaito's own (from its registries) and vLLM's."""

from __future__ import annotations

import json
import re
from typing import Any

import kaito.controllers.metrics
import kaito.provisioner.metrics
import kaito.reconcilers.metrics
import kaito.serving.metrics
import kaito.webhook.metrics
from deploy.manifests import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "kaito.json"
METRIC_MODULES = (
    kaito.controllers.metrics,
    kaito.reconcilers.metrics,
    kaito.provisioner.metrics,
    kaito.webhook.metrics,
    kaito.serving.metrics,
)
# vLLM's V1 engine metrics the dashboard uses (histograms as their _bucket series).
VLLM_METRICS = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
}
_SELECTED = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _kaito_series() -> set[str]:
    """Series names of every metric kaito's metric modules define (whether or not a child exists yet)."""
    defined = {
        collector
        for module in METRIC_MODULES
        for collector in vars(module).values()
        if hasattr(collector, "_name") and hasattr(collector, "_type")
    }
    series: set[str] = set()
    for collector in defined:
        for family in collector.describe():
            series.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return series


def _expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in _expressions(item)]
    return []


def test_dashboard_queries_only_real_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _expressions(dashboard["panels"])
    assert len(expressions) >= 20
    assert len(_kaito_series()) > 30
    known = _kaito_series() | VLLM_METRICS
    used = {name for expr in expressions for name in _SELECTED.findall(expr)}
    assert not used - known, f"unknown metrics {sorted(used - known)}"
    # Every kaito metric family and every listed vLLM metric has a panel.
    families = {name for name in _kaito_series() if not name.endswith(("_sum", "_count"))}
    assert {n.removesuffix("_bucket") for n in families - used} <= {
        # workqueue internals and gauges the overview leaves to ad-hoc queries
        "workqueue_adds_total",
        "workqueue_work_duration_seconds",
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
        "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
        "kaito_events_dropped_total",
        "kaito_webhook_certificate_rotations_total",
    }, sorted(families - used)
    assert used >= VLLM_METRICS


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            for variable in re.findall(r"\$(\w+)", target["expr"]):
                assert variable in variables or variable.startswith("__"), variable
