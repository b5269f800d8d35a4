"""Sizing of LoRA / QLoRA tuning jobs: how many GPUs of one node the base model is spread over.

A tuning job runs on one node with transformers + peft; the base model is spread layer by layer over the
fewest GPUs whose memory holds it (see `budget.tuning_budget` for the estimate), and any GPUs left over
train data-parallel copies.
"""

from __future__ import annotations

from kaito.presets import budget
from kaito.presets.catalog import ModelPreset, TuningMethod, list_presets
from kaito.presets.plan_types import Dtype, MemoryBudget, Plan, PlanError, Shortfall, gib
from kaito.presets.planner import (
    DEFAULT_GPU_MEMORY_UTILIZATION,
    as_facts,
    check_request,
    gpu_field,
    resolve_preset,
)
from kaito.presets.skus import Cloud, GpuFacts, GpuSku, list_skus


def plan_tuning(
    preset: ModelPreset | str,
    gpus: GpuSku | GpuFacts,
    method: TuningMethod = "lora",
    node_count: int = 1,
    *,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    field: str | None = None,
) -> Plan:
    """Size a tuning job of `preset` with `method` on one node of `gpus`, or raise PlanError."""
    return _plan_tuning(preset, gpus, method, node_count, gpu_memory_utilization, field, suggest=True)


def suggest_tuning_skus(
    preset: ModelPreset | str,
    method: TuningMethod,
    cloud: Cloud | None = None,
    *,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    limit: int = 3,
) -> list[str]:
    """The smallest instance types (by total GPU memory, then GPU count) that fit the tuning job."""
    model = resolve_preset(preset, "tuning.preset.name")
    fitting: list[GpuSku] = []
    seen: set[tuple[str, int]] = set()
    for sku in list_skus(cloud):
        if (sku.gpu.key, sku.gpu_count) in seen:
            continue
        try:
            _plan_tuning(model, sku, method, 1, gpu_memory_utilization, None, suggest=False)
        except PlanError:
            continue
        seen.add((sku.gpu.key, sku.gpu_count))
        fitting.append(sku)
    fitting.sort(key=lambda sku: (sku.total_memory_mib, sku.gpu_count))
    return [sku.name for sku in fitting[:limit]]


def _plan_tuning(
    preset_or_name: ModelPreset | str,
    gpus: GpuSku | GpuFacts,
    method: TuningMethod,
    node_count: int,
    utilization: float,
    field: str | None,
    *,
    suggest: bool,
) -> Plan:
    preset = resolve_preset(preset_or_name, "tuning.preset.name")
    facts = as_facts(gpus)
    field = field or gpu_field(facts)
    if not preset.tuning:
        tunable = ", ".join(_tunable_names())
        raise PlanError(
            f"{preset.name} does not support tuning; tunable presets: {tunable}",
            field="tuning.preset.name",
            reason="TuningNotSupported",
        )
    if not preset.supports_tuning(method):
        raise PlanError(
            f"{preset.name} cannot be tuned with {method}; use one of {', '.join(preset.tuning_methods)}",
            field="tuning.method",
            reason="TuningNotSupported",
        )
    check_request(preset, facts, node_count, utilization, field, suggest=suggest)
    if node_count != 1:
        raise PlanError(
            f"a tuning job runs on one node; set resource.count to 1, not {node_count}",
            field="resource.count",
            reason="InvalidRequest",
        )
    dtype = budget.choose_dtype(preset, facts)
    per_node = facts.gpu_count
    chosen = None
    for used in range(1, per_node + 1):
        candidate = budget.tuning_budget(preset, facts, dtype, method, used, utilization)
        if candidate.fits:
            chosen = candidate
            break
    if chosen is None:
        best = budget.tuning_budget(preset, facts, dtype, method, per_node, utilization)
        shortfall = Shortfall(
            needed_bytes=best.needed,
            available_bytes=best.usable,
            tensor_parallel_size=1,
            pipeline_parallel_size=per_node,
        )
        suggestions = (
            suggest_tuning_skus(preset, method, facts.cloud, gpu_memory_utilization=utilization)
            if suggest
            else []
        )
        message = (
            f"{method} tuning of {preset.name} needs {gib(best.needed)} GiB per GPU ({gib(best.weights)} "
            f"GiB weights + {gib(best.training)} GiB adapter, optimizer and activations + "
            f"{gib(best.overhead)} GiB runtime, over {per_node} GPU(s)) but {facts.source} offers "
            f"{gib(best.usable)} GiB per GPU: "
            f"{gib(shortfall.short_bytes)} GiB short"
        )
        if method == "lora" and preset.supports_tuning("qlora"):
            message += "; qlora (4-bit base weights) needs far less"
        if suggestions:
            message += f"; instance types that fit: {', '.join(suggestions)}"
        raise PlanError(
            message,
            field=field,
            reason="InsufficientGPUMemory",
            shortfall=shortfall,
            suggested_skus=suggestions,
        )
    return _build(preset, facts, method, dtype, utilization, chosen)


def _tunable_names() -> list[str]:
    return [p.name for p in list_presets() if p.tuning]


def _build(
    preset: ModelPreset,
    facts: GpuFacts,
    method: TuningMethod,
    dtype: Dtype,
    utilization: float,
    chosen: budget.TuningBudget,
) -> Plan:
    per_node = facts.gpu_count
    replicas = per_node // chosen.gpus
    tokens = budget.tuning_sequence_tokens(preset)
    base = "4-bit NF4 base weights" if method == "qlora" else f"{dtype} base weights"
    spread = (
        "one GPU"
        if chosen.gpus == 1
        else f"{chosen.gpus} GPUs, layer by layer (the model's layers are placed across them in order)"
    )
    lines = [
        f"{facts.source}: {per_node} × {facts.product} with {gib(chosen.total)} GiB each "
        f"({gib(chosen.usable)} GiB usable at {utilization:g}).",
        f"{method} tuning of {preset.name} with {base}, gradient checkpointing and {tokens:,}-token "
        f"sequences, micro-batch 1.",
        f"The model fits on {spread}"
        + (f"; the node's {per_node} GPUs train {replicas} data-parallel copies." if replicas > 1 else "."),
        f"Per GPU: {gib(chosen.weights)} GiB weights + {gib(chosen.training)} GiB adapter, optimizer state "
        f"and activations + {gib(chosen.overhead)} GiB runtime = {gib(chosen.needed)} GiB.",
        f"Disk: {preset.disk_gib} GiB (base model, checkpoints and the adapter).",
    ]
    return Plan(
        mode="tuning",
        preset=preset.name,
        sku=facts.sku,
        gpu_product=facts.product,
        requested_nodes=1,
        nodes=1,
        gpus_per_node=per_node,
        gpus_in_use_per_node=replicas * chosen.gpus,
        tensor_parallel_size=1,
        pipeline_parallel_size=chosen.gpus,
        data_parallel_replicas=replicas,
        replicas_per_node=replicas,
        max_model_len=tokens,
        min_context=tokens,
        gpu_memory_utilization=utilization,
        dtype=dtype,
        quantization="nf4" if method == "qlora" else preset.quantization,
        tuning_method=method,
        disk_gib=preset.disk_gib,
        kv_bytes_per_token=0,
        kv_bytes_per_token_per_gpu=0,
        max_kv_tokens=0,
        memory=MemoryBudget(
            total_bytes=chosen.total,
            usable_bytes=chosen.usable,
            weights_bytes=chosen.weights,
            overhead_bytes=chosen.overhead,
            kv_cache_bytes=0,
            kv_needed_bytes=0,
            training_bytes=chosen.training,
        ),
        explanation=lines,
    )
