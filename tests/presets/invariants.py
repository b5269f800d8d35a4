"""Checks every plan must pass, recomputed here from catalog facts rather than taken from the planner."""

from __future__ import annotations

import math

from kaito.presets import GpuFacts, ModelPreset, Plan, PlanError, get_sku, plan
from kaito.presets.budget import CONTEXT_ROUNDING_TOKENS, MIN_CONTEXT_TOKENS


def kv_per_token_per_gpu(preset: ModelPreset, dtype_bytes: int, tp: int, pp: int) -> int:
    arch = preset.architecture
    layers = math.ceil(arch.num_hidden_layers / pp)
    heads = max(1, arch.num_key_value_heads // tp)
    return layers * heads * arch.head_dim * 2 * dtype_bytes


def check_plan(
    result: Plan, preset: ModelPreset, facts: GpuFacts, node_count: int, utilization: float
) -> None:
    arch = preset.architecture
    tp, pp = result.tensor_parallel_size, result.pipeline_parallel_size
    memory = result.memory
    # Weights, overhead and the KV cache of one max_model_len sequence fit in the usable memory of each GPU.
    assert memory.total_bytes == facts.memory_mib_per_gpu * 2**20
    assert memory.usable_bytes == math.floor(memory.total_bytes * utilization)
    assert memory.weights_bytes + memory.overhead_bytes + memory.kv_needed_bytes <= memory.usable_bytes
    assert memory.kv_cache_bytes == memory.usable_bytes - memory.weights_bytes - memory.overhead_bytes
    # The planner's numbers are the formulas' numbers.
    dtype_bytes = 4 if result.dtype == "float32" else 2
    weights = preset.weights_bytes * (2 if result.dtype == "float32" and preset.quantization is None else 1)
    assert memory.weights_bytes == math.ceil(weights / (tp * pp))
    assert result.kv_bytes_per_token_per_gpu == kv_per_token_per_gpu(preset, dtype_bytes, tp, pp)
    assert memory.kv_needed_bytes == result.max_model_len * result.kv_bytes_per_token_per_gpu
    assert result.kv_bytes_per_token == preset.kv_bytes_per_token(dtype_bytes)
    # TP divides the attention heads and suits the KV heads.
    assert arch.num_attention_heads % tp == 0
    assert arch.num_key_value_heads % tp == 0 or tp % arch.num_key_value_heads == 0
    assert pp <= arch.num_hidden_layers
    # No more GPUs than the nodes have.
    assert tp * pp <= result.gpus_per_node * result.nodes
    assert tp * pp * result.data_parallel_replicas <= result.gpus_per_node * result.nodes
    assert result.gpus_in_use_per_node <= result.gpus_per_node
    if result.replicas_per_node == 0:
        assert result.gpus_in_use_per_node * result.nodes == tp * pp
    else:
        assert result.gpus_in_use_per_node == tp * pp * result.replicas_per_node
        assert result.data_parallel_replicas == result.replicas_per_node * result.nodes
    assert result.nodes >= node_count
    # Context: within the model's limit, at least the documented minimum, and as long as fits.
    minimum = min(preset.context_limit, MIN_CONTEXT_TOKENS)
    assert result.min_context == minimum
    assert minimum <= result.max_model_len <= preset.context_limit
    if result.max_model_len < preset.context_limit:
        longer = result.max_model_len + CONTEXT_ROUNDING_TOKENS
        assert longer * result.kv_bytes_per_token_per_gpu > memory.kv_cache_bytes
    # dtype follows the GPU.
    assert (result.dtype == "bfloat16") == facts.bf16
    assert result.disk_gib == preset.disk_gib
    assert result.explanation
    assert all(line.strip() for line in result.explanation)


def check_refusal(err: PlanError, preset: ModelPreset, node_count: int, utilization: float) -> None:
    assert err.field
    assert err.message
    assert err.field in err.to_refusal().field
    if err.reason == "InsufficientGPUMemory":
        assert err.shortfall is not None
        assert err.shortfall.short_bytes > 0
        for name in err.suggested_skus:
            plan(preset, get_sku(name), node_count, gpu_memory_utilization=utilization)
    if err.suggested_skus:
        sizes = [get_sku(name).total_memory_mib for name in err.suggested_skus]
        assert sizes == sorted(sizes)
