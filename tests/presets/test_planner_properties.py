"""Properties of the planner over the whole catalog × SKU table and over arbitrary GPU nodes."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaito.presets import GpuFacts, GpuSku, ModelPreset, Plan, PlanError, list_presets, list_skus, plan
from kaito.presets.budget import min_context, overhead_bytes

from .invariants import check_plan, check_refusal, kv_per_token_per_gpu

PRESETS = list_presets()
SKUS = list_skus()


def some_layout_fits(preset: ModelPreset, facts: GpuFacts, node_count: int, utilization: float) -> bool:
    """Brute force: does any valid tensor × pipeline split over the requested nodes hold the weights,
    overhead and a minimum-context KV cache? (Independent of the planner's search order.)"""
    dtype_bytes = 2 if facts.bf16 or preset.float16_ok else 4
    weights = preset.weights_bytes * (2 if dtype_bytes == 4 and preset.quantization is None else 1)
    usable = math.floor(facts.memory_bytes_per_gpu * utilization)
    for tp in preset.tensor_parallel_sizes(facts.gpu_count):
        for pp in range(
            1, min(preset.architecture.num_hidden_layers, facts.gpu_count // tp * node_count) + 1
        ):
            need = (
                math.ceil(weights / (tp * pp))
                + overhead_bytes(preset, tp)
                + min_context(preset) * kv_per_token_per_gpu(preset, dtype_bytes, tp, pp)
            )
            if need <= usable:
                return True
    return False


def attempt(preset: ModelPreset, facts: GpuFacts, node_count: int, **options: Any) -> Plan | PlanError:
    """The plan, or the refusal as a value (so checks on it run outside an except block)."""
    try:
        return plan(preset, facts, node_count, **options)
    except PlanError as err:
        return err


def test_every_catalog_pair_plans_or_refuses_consistently() -> None:
    plans = refusals = 0
    for preset in PRESETS:
        for sku in SKUS:
            facts = sku.facts()
            outcome = attempt(preset, facts, 1)
            if isinstance(outcome, Plan):
                plans += 1
                check_plan(outcome, preset, facts, 1, 0.9)
                continue
            refusals += 1
            check_refusal(outcome, preset, 1, 0.9)
            if outcome.reason == "InsufficientGPUMemory":
                assert not some_layout_fits(preset, facts, 1, 0.9), (preset.name, sku.name)
    assert plans > 0
    assert refusals > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset=st.sampled_from(PRESETS),
    sku=st.sampled_from(SKUS),
    node_count=st.integers(min_value=1, max_value=4),
    utilization=st.floats(min_value=0.5, max_value=0.97),
    allow_more_nodes=st.booleans(),
)
def test_catalog_pairs_with_any_count_and_utilization(
    preset: ModelPreset, sku: GpuSku, node_count: int, utilization: float, allow_more_nodes: bool
) -> None:
    outcome = attempt(
        preset, sku.facts(), node_count, gpu_memory_utilization=utilization, allow_more_nodes=allow_more_nodes
    )
    if isinstance(outcome, Plan):
        check_plan(outcome, preset, sku.facts(), node_count, utilization)
        if not allow_more_nodes:
            assert outcome.nodes == node_count
        return
    check_refusal(outcome, preset, node_count, utilization)
    if outcome.reason == "InsufficientGPUMemory" and not allow_more_nodes:
        assert not some_layout_fits(preset, sku.facts(), node_count, utilization)
    if outcome.min_node_count is not None and outcome.reason == "InsufficientGPUMemory":
        raised = plan(preset, sku, outcome.min_node_count, gpu_memory_utilization=utilization)
        assert raised.nodes == outcome.min_node_count


gpu_nodes = st.builds(
    GpuFacts,
    gpu_count=st.integers(min_value=1, max_value=16),
    product=st.just("test-gpu"),
    memory_mib_per_gpu=st.integers(min_value=4096, max_value=200_000),
    compute_capability=st.sampled_from([None, 7.0, 7.5, 8.0, 8.6, 9.0]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(PRESETS), facts=gpu_nodes, node_count=st.integers(min_value=1, max_value=3))
def test_arbitrary_gpu_nodes(preset: ModelPreset, facts: GpuFacts, node_count: int) -> None:
    outcome = attempt(preset, facts, node_count)
    if isinstance(outcome, Plan):
        check_plan(outcome, preset, facts, node_count, 0.9)
        return
    assert outcome.field
    if outcome.reason == "InsufficientGPUMemory":
        assert not some_layout_fits(preset, facts, node_count, 0.9)
