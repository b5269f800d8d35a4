"""The sizing planner: picks nodes, tensor/pipeline/data parallelism, dtype and context for a preset on GPUs.

Rules (each number comes from the formulas in `budget`):
1. A model far smaller than one GPU runs with tensor parallel 1 and one replica per GPU (data parallel).
2. Otherwise tensor parallel = the GPUs of a node, or the largest valid size below it (it must divide the
   attention heads, and divide or be a multiple of the KV heads); spare GPUs run extra replicas, or, when
   the model does not fit, become pipeline stages within the node.
3. When one node is not enough, pipeline parallel spans nodes. The requested node count is honoured: if it
   is too small the plan is refused with the count that would fit, unless `allow_more_nodes` raises it.
4. A layout fits when weights + runtime overhead + the KV cache of one sequence of at least `min_context`
   tokens fit in (GPU memory × gpu_memory_utilization) on every GPU; max_model_len is then the longest
   context (≤ the model's limit) whose KV cache fits.
"""

from __future__ import annotations

from kaito.presets import budget
from kaito.presets.budget import LayoutBudget
from kaito.presets.catalog import ModelPreset, UnknownPresetError, get_preset
from kaito.presets.plan_builder import build_plan, hardware_lines, heads_note
from kaito.presets.plan_types import Plan, PlanError, Shortfall, gib
from kaito.presets.skus import Cloud, GpuFacts, GpuSku, list_skus

MAX_NODES = 16
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def resolve_preset(preset: ModelPreset | str, field: str = "inference.preset.name") -> ModelPreset:
    if isinstance(preset, ModelPreset):
        return preset
    try:
        return get_preset(preset)
    except UnknownPresetError as err:
        raise PlanError(err.message, field=field, reason="InvalidRequest") from None


def as_facts(gpus: GpuSku | GpuFacts) -> GpuFacts:
    return gpus.facts() if isinstance(gpus, GpuSku) else gpus


def gpu_field(facts: GpuFacts) -> str:
    """The Workspace field that chose these GPUs: the instance type, or the selector of existing nodes."""
    return "resource.instanceType" if facts.sku else "resource.labelSelector"


def check_request(
    preset: ModelPreset,
    facts: GpuFacts,
    node_count: int,
    utilization: float,
    field: str,
    *,
    suggest: bool = True,
) -> None:
    """Refusals that do not depend on memory: bad numbers, no GPUs, a GPU generation the model cannot use."""
    if node_count < 1:
        raise PlanError(
            f"node count must be at least 1, not {node_count}",
            field="resource.count",
            reason="InvalidRequest",
        )
    if not 0 < utilization <= 1:
        raise PlanError(
            f"gpu_memory_utilization must be in (0, 1], not {utilization}",
            field="gpu_memory_utilization",
            reason="InvalidRequest",
        )
    if facts.gpu_count < 1 or facts.memory_mib_per_gpu < 1:
        raise PlanError(
            f"{facts.source} has no usable NVIDIA GPU ({facts.gpu_count} GPUs, "
            f"{facts.memory_mib_per_gpu} MiB each)",
            field=field,
            reason="NoGPU",
        )
    if not preset.runs_on(facts.compute_capability):
        have = "unknown" if facts.compute_capability is None else f"{facts.compute_capability:.1f}"
        raise PlanError(
            f"{preset.name} needs a GPU of compute capability {preset.min_compute_capability:.1f} or newer "
            f"(its {preset.quantization or 'checkpoint'} kernels); {facts.product} has {have}",
            field=field,
            reason="UnsupportedGPU",
            suggested_skus=(
                suggest_skus(preset, facts.cloud, node_count=node_count, gpu_memory_utilization=utilization)
                if suggest
                else []
            ),
        )


def plan(
    preset: ModelPreset | str,
    gpus: GpuSku | GpuFacts,
    node_count: int = 1,
    *,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    allow_more_nodes: bool = False,
    field: str | None = None,
) -> Plan:
    """Size an inference deployment of `preset` on `node_count` nodes of `gpus`, or raise PlanError."""
    return _plan(
        preset, gpus, node_count, max_model_len, gpu_memory_utilization, allow_more_nodes, field, suggest=True
    )


def suggest_skus(
    preset: ModelPreset | str,
    cloud: Cloud | None = None,
    *,
    node_count: int = 1,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    limit: int = 3,
) -> list[str]:
    """The smallest instance types (by total GPU memory, then GPU count) on which `preset` fits on
    `node_count` nodes; one name per distinct GPU configuration."""
    model = resolve_preset(preset)
    fitting: list[GpuSku] = []
    seen: set[tuple[str, int]] = set()
    for sku in list_skus(cloud):
        if (sku.gpu.key, sku.gpu_count) in seen:
            continue
        try:
            _plan(model, sku, node_count, max_model_len, gpu_memory_utilization, False, None, suggest=False)
        except PlanError:
            continue
        seen.add((sku.gpu.key, sku.gpu_count))
        fitting.append(sku)
    fitting.sort(key=lambda sku: (sku.total_memory_mib, sku.gpu_count))
    return [sku.name for sku in fitting[:limit]]


def _plan(
    preset_or_name: ModelPreset | str,
    gpus: GpuSku | GpuFacts,
    node_count: int,
    max_model_len: int | None,
    utilization: float,
    allow_more_nodes: bool,
    field: str | None,
    *,
    suggest: bool,
) -> Plan:
    preset = resolve_preset(preset_or_name)
    facts = as_facts(gpus)
    field = field or gpu_field(facts)
    check_request(preset, facts, node_count, utilization, field, suggest=suggest)
    limit = preset.context_limit
    if max_model_len is not None and not 1 <= max_model_len <= limit:
        raise PlanError(
            f"max_model_len {max_model_len} is outside 1..{limit}, the context of {preset.name}",
            field="max_model_len",
            reason="ContextTooLong",
        )
    dtype = budget.choose_dtype(preset, facts)
    required = max_model_len or budget.min_context(preset)
    layers = preset.architecture.num_hidden_layers
    per_node = facts.gpu_count

    def layout(tp: int, pp: int) -> LayoutBudget:
        return budget.layout_budget(preset, facts, dtype, tp, pp, utilization)

    lines = hardware_lines(preset, facts, dtype, utilization)
    single = layout(1, 1)
    if (
        single.fits(max_model_len or limit)
        and single.weights + single.overhead <= budget.DATA_PARALLEL_MAX_FILL * single.usable
    ):
        lines.append(
            f"{preset.name} is far smaller than one GPU ({gib(single.weights)} GiB of weights, and one GPU "
            f"holds a full {max_model_len or limit:,}-token sequence), so tensor parallel is 1 and every GPU "
            f"serves its own replica: {per_node * node_count} data-parallel replica(s) on "
            f"{node_count} node(s)."
        )
        return build_plan(
            preset, facts, dtype, utilization, single, node_count, node_count, per_node, lines, max_model_len
        )

    valid = preset.tensor_parallel_sizes(per_node)
    heads = heads_note(preset)

    def candidates(nodes: int) -> list[tuple[int, int]]:
        """(tensor parallel, pipeline stages per node) splits over `nodes` nodes, most GPUs first."""
        splits = [(tp, min(per_node // tp, layers // nodes)) for tp in valid]
        splits = [(tp, stages) for tp, stages in splits if stages >= 1]
        return sorted(splits, key=lambda split: (split[0] * split[1], split[0]), reverse=True)

    def fitting(nodes: int) -> tuple[int, int] | None:
        return next(((tp, st) for tp, st in candidates(nodes) if layout(tp, st * nodes).fits(required)), None)

    tp = valid[-1]
    groups = per_node // tp
    if tp < per_node:
        lines.append(f"Tensor parallel {per_node} is not valid ({heads}); the largest valid size is {tp}.")
    sharded = layout(tp, 1)
    if sharded.fits(required):
        what = "runs on one GPU" if tp == 1 else f"is split over {tp} GPUs with tensor parallelism ({heads})"
        spare = f"; the node's {per_node} GPUs run {groups} replicas side by side" if groups > 1 else ""
        lines.append(f"The model {what}{spare}.")
        return build_plan(
            preset, facts, dtype, utilization, sharded, node_count, node_count, groups, lines, max_model_len
        )
    if (in_node := fitting(1)) is not None:
        tp, stages = in_node
        lines.append(
            f"Tensor parallel {valid[-1]} alone leaves no room for a {required:,}-token KV cache, so "
            f"{tp * stages} of the node's {per_node} GPUs form {tp}-way tensor × {stages}-way pipeline "
            "parallelism."
        )
        return build_plan(
            preset,
            facts,
            dtype,
            utilization,
            layout(tp, stages),
            node_count,
            node_count,
            1,
            lines,
            max_model_len,
        )

    fewest = next((n for n in range(2, MAX_NODES + 1) if fitting(n) is not None), None)
    if fewest is None or (fewest > node_count and not allow_more_nodes):
        tp, stages = candidates(node_count)[0] if candidates(node_count) else (valid[-1], 1)
        best = layout(tp, min(stages * node_count, layers))
        raise _refusal(
            preset, facts, node_count, utilization, field, best, required, max_model_len, fewest, suggest
        )
    nodes = max(node_count, fewest)
    chosen = fitting(nodes)
    if chosen is None:
        raise PlanError(
            f"{nodes} nodes would make more pipeline stages than {preset.name}'s {layers} layers; "
            f"set resource.count to {fewest}",
            field="resource.count",
            reason="TooManyNodes",
            min_node_count=fewest,
        )
    tp, stages = chosen
    lines.append(
        f"One node's {per_node} GPUs cannot hold the weights and a {required:,}-token KV cache, so the model "
        f"spans {nodes} nodes: tensor parallel {tp} within a node, pipeline parallel {stages * nodes} in all."
    )
    if nodes > node_count:
        lines.append(f"resource.count {node_count} is raised to {nodes}, the fewest nodes that fit.")
    elif nodes > fewest:
        lines.append(
            f"{fewest} nodes would fit; all {nodes} requested become pipeline stages (more KV cache)."
        )
    return build_plan(
        preset,
        facts,
        dtype,
        utilization,
        layout(tp, stages * nodes),
        node_count,
        nodes,
        0,
        lines,
        max_model_len,
    )


def _refusal(
    preset: ModelPreset,
    facts: GpuFacts,
    node_count: int,
    utilization: float,
    field: str,
    best: LayoutBudget,
    required: int,
    max_model_len: int | None,
    fewest: int | None,
    suggest: bool,
) -> PlanError:
    """Why the best layout on the requested nodes misses, by how much, and what would fit instead."""
    if max_model_len is not None:
        try:
            shorter = _plan(preset, facts, node_count, None, utilization, False, field, suggest=False)
        except PlanError:
            pass
        else:
            return PlanError(
                f"max_model_len {max_model_len:,} does not fit {preset.name} on {facts.source}; at most "
                f"{shorter.max_kv_tokens:,} tokens of KV cache fit, so lower it to {shorter.max_model_len:,}",
                field="max_model_len",
                reason="ContextTooLong",
            )
    shortfall = Shortfall(
        needed_bytes=best.needed_for(required),
        available_bytes=best.usable,
        tensor_parallel_size=best.tensor_parallel,
        pipeline_parallel_size=best.pipeline,
    )
    gpus = best.tensor_parallel * best.pipeline
    split = f", split over {gpus} GPUs" if gpus > 1 else ""
    where = f"{node_count} node(s) of {facts.source}" if node_count > 1 else facts.source
    message = (
        f"{preset.name} needs {gib(shortfall.needed_bytes)} GiB per GPU ({gib(best.weights)} GiB weights + "
        f"{gib(best.overhead)} GiB runtime overhead + {gib(required * best.kv_per_token)} GiB KV cache for "
        f"{required:,} tokens{split}) but {where} offers {gib(best.usable)} GiB per GPU "
        f"({gib(best.total)} GiB × {utilization:g}): {gib(shortfall.short_bytes)} GiB short"
    )
    suggestions = (
        suggest_skus(
            preset,
            facts.cloud,
            node_count=node_count,
            max_model_len=max_model_len,
            gpu_memory_utilization=utilization,
        )
        if suggest
        else []
    )
    fixes = []
    if suggestions:
        fixes.append(f"use an instance type with more GPU memory such as {', '.join(suggestions)}")
    elif suggest:
        fixes.append(f"no known instance type fits it on {node_count} node(s)")
    if fewest is not None and fewest > node_count:
        fixes.append(f"set resource.count to {fewest} to pipeline it across {fewest} nodes")
    if fixes:
        message += "; " + ", or ".join(fixes)
    return PlanError(
        message,
        field=field,
        reason="InsufficientGPUMemory",
        shortfall=shortfall,
        suggested_skus=suggestions,
        min_node_count=fewest,
    )
