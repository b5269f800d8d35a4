"""Assembles a Plan from a chosen layout, with the sentences that explain it."""

from __future__ import annotations

from kaito.presets import budget
from kaito.presets.budget import LayoutBudget
from kaito.presets.catalog import DISK_WEIGHTS_MARGIN, ModelPreset
from kaito.presets.plan_types import Dtype, MemoryBudget, Plan, gib
from kaito.presets.skus import GpuFacts


def heads_note(preset: ModelPreset) -> str:
    arch = preset.architecture
    return (
        f"it must divide the {arch.num_attention_heads} attention heads and match the "
        f"{arch.num_key_value_heads} KV heads"
    )


def hardware_lines(preset: ModelPreset, facts: GpuFacts, dtype: Dtype, utilization: float) -> list[str]:
    total = gib(facts.memory_bytes_per_gpu)
    usable = gib(facts.memory_bytes_per_gpu * utilization)
    lines = [
        f"{facts.source}: {facts.gpu_count} × {facts.product} with {total} GiB each; at "
        f"gpu_memory_utilization {utilization:g} the runtime may use {usable} GiB per GPU."
    ]
    capability = "unknown" if facts.compute_capability is None else f"{facts.compute_capability:.1f}"
    if dtype == "bfloat16":
        lines.append(
            f"The GPU supports bfloat16 (compute capability {capability}), so the model runs in bfloat16."
        )
    elif dtype == "float16":
        lines.append(
            f"The GPU has no bfloat16 (compute capability {capability}), so the model runs in float16."
        )
    else:
        lines.append(
            f"The GPU has no bfloat16 (compute capability {capability}) and {preset.name} overflows in "
            f"float16, so it runs in float32 with its weights doubled to "
            f"{gib(budget.weights_bytes(preset, dtype))} GiB."
        )
    if preset.quantization:
        lines.append(
            f"The checkpoint is {preset.quantization}-quantized; its {preset.weights_gib} GiB is the "
            "size in memory."
        )
    return lines


def build_plan(
    preset: ModelPreset,
    facts: GpuFacts,
    dtype: Dtype,
    utilization: float,
    chosen: LayoutBudget,
    requested_nodes: int,
    nodes: int,
    replicas_per_node: int,
    lines: list[str],
    max_model_len: int | None,
) -> Plan:
    """The Plan for a chosen layout; replicas_per_node 0 means one replica spans all the nodes."""
    stages_per_node = chosen.pipeline // nodes if replicas_per_node == 0 else chosen.pipeline
    per_node_gpus = chosen.tensor_parallel * stages_per_node
    gpus_in_use_per_node = per_node_gpus * max(replicas_per_node, 1)
    limit = preset.context_limit
    context = max_model_len or budget.round_context(chosen.max_tokens, limit)
    kv_kib = chosen.kv_per_token / 1024
    replicas = replicas_per_node * nodes if replicas_per_node else 1
    if replicas_per_node and nodes > 1:
        lines.append(
            f"Each of the {nodes} nodes runs the same layout: {replicas} data-parallel replicas in all."
        )
    lines.append(
        f"Per GPU: {gib(chosen.weights)} GiB weights + {gib(chosen.overhead)} GiB runtime overhead leaves "
        f"{gib(chosen.kv_budget)} GiB of KV cache at {kv_kib:g} KiB per token: {chosen.max_tokens:,} tokens."
    )
    sequences = chosen.max_tokens // context
    if max_model_len is not None:
        lines.append(f"max_model_len {context:,} as configured ({sequences} such sequences fit at once).")
    elif context == limit:
        lines.append(
            f"max_model_len {context:,}: the model's full context fits "
            f"(the KV cache holds {sequences} such sequences at once)."
        )
    else:
        lines.append(
            f"max_model_len {context:,}: the longest context, rounded down to a multiple of "
            f"{budget.CONTEXT_ROUNDING_TOKENS:,}, whose KV cache fits (the model allows {limit:,})."
        )
    lines.append(
        f"Disk: {preset.disk_gib} GiB per node (weights × {DISK_WEIGHTS_MARGIN:g} + the OS and images)."
    )
    return Plan(
        preset=preset.name,
        sku=facts.sku,
        gpu_product=facts.product,
        requested_nodes=requested_nodes,
        nodes=nodes,
        gpus_per_node=facts.gpu_count,
        gpus_in_use_per_node=gpus_in_use_per_node,
        tensor_parallel_size=chosen.tensor_parallel,
        pipeline_parallel_size=chosen.pipeline,
        data_parallel_replicas=replicas,
        replicas_per_node=replicas_per_node,
        max_model_len=context,
        min_context=budget.min_context(preset),
        gpu_memory_utilization=utilization,
        dtype=dtype,
        quantization=preset.quantization,
        disk_gib=preset.disk_gib,
        kv_bytes_per_token=preset.kv_bytes_per_token(budget.DTYPE_BYTES[dtype]),
        kv_bytes_per_token_per_gpu=chosen.kv_per_token,
        max_kv_tokens=chosen.max_tokens,
        memory=MemoryBudget(
            total_bytes=chosen.total,
            usable_bytes=chosen.usable,
            weights_bytes=chosen.weights,
            overhead_bytes=chosen.overhead,
            kv_cache_bytes=chosen.kv_budget,
            kv_needed_bytes=context * chosen.kv_per_token,
        ),
        explanation=lines,
    )
