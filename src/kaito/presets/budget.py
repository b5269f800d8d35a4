"""Per-GPU memory formulas behind every plan: weights share, runtime overhead, KV cache, training state.

All sizes are bytes. Each constant below is an estimate chosen to err on the safe side; the planner derives
every number from these formulas and the catalog facts, never from a per-model or per-SKU table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kaito.presets.catalog import GIB, ModelPreset, TuningMethod
from kaito.presets.plan_types import Dtype
from kaito.presets.skus import GpuFacts

# The shortest context the planner will serve: 4,096 tokens (a system prompt and a few chat turns), or the
# model's own limit when that is shorter. A layout that cannot hold one sequence this long is refused.
MIN_CONTEXT_TOKENS = 4096

# Runtime overhead per GPU = a fixed part (CUDA context, NCCL and cuBLAS workspaces, CUDA graphs) + the peak
# activations of a profiling batch (PROFILE_TOKENS tokens, ACTIVATION_BYTES_PER_HIDDEN bytes per hidden unit,
# split by tensor parallelism) + the sampler's logits for SAMPLER_SEQUENCES sequences in float32.
FIXED_OVERHEAD_BYTES = 1 * GIB
PROFILE_TOKENS = 2048
ACTIVATION_BYTES_PER_HIDDEN = 24
SAMPLER_SEQUENCES = 256

# A model is "far smaller than one GPU" (serve it with data parallelism, one replica per GPU) when one GPU
# holds its weights and overhead within this fraction of the usable memory AND a full-length sequence's KV.
DATA_PARALLEL_MAX_FILL = 0.5

# max_model_len below the model's limit is rounded down to a multiple of this many tokens.
CONTEXT_ROUNDING_TOKENS = 1024

# Tuning (LoRA / QLoRA with transformers + peft, gradient checkpointing, micro-batch 1):
#   base weights: 16-bit for LoRA; 4-bit NF4 for QLoRA, which with its quantization constants and the layers
#   kept in 16 bits (embeddings, norms, lm_head) comes to QLORA_WEIGHT_FRACTION of the 16-bit size;
#   adapter: LORA_TRAINABLE_FRACTION of the parameters, each with 16-bit weight and gradient, an fp32 master
#   copy and two fp32 Adam moments (16 bytes);
#   activations: one checkpointed hidden state per layer (2 bytes) plus one layer being recomputed
#   (RECOMPUTE_BYTES_PER_HIDDEN bytes) per token and hidden unit, and fp32 logits with their gradient and a
#   16-bit copy (LOGITS_BYTES_PER_VOCAB) per token and vocabulary entry.
TUNING_SEQUENCE_TOKENS = 2048
QLORA_WEIGHT_FRACTION = 0.3
LORA_TRAINABLE_FRACTION = 0.01
ADAPTER_BYTES_PER_PARAMETER = 16
RECOMPUTE_BYTES_PER_HIDDEN = 34
LOGITS_BYTES_PER_VOCAB = 10

DTYPE_BYTES: dict[Dtype, int] = {"bfloat16": 2, "float16": 2, "float32": 4}


def min_context(preset: ModelPreset) -> int:
    return min(preset.context_limit, MIN_CONTEXT_TOKENS)


def choose_dtype(preset: ModelPreset, gpus: GpuFacts) -> Dtype:
    """bfloat16 where the GPU has it; else float16, or float32 for models that overflow in float16."""
    if gpus.bf16:
        return "bfloat16"
    return "float16" if preset.float16_ok else "float32"


def weights_bytes(preset: ModelPreset, dtype: Dtype) -> int:
    """Weights in memory: the published size, doubled when a 16-bit checkpoint is upcast to float32."""
    if dtype == "float32" and preset.quantization is None:
        return preset.weights_bytes * 2
    return preset.weights_bytes


def overhead_bytes(preset: ModelPreset, tensor_parallel: int) -> int:
    arch = preset.architecture
    activations = PROFILE_TOKENS * arch.hidden_size * ACTIVATION_BYTES_PER_HIDDEN // tensor_parallel
    sampler = SAMPLER_SEQUENCES * arch.vocab_size * 4
    return FIXED_OVERHEAD_BYTES + activations + sampler


def kv_bytes_per_token_per_gpu(preset: ModelPreset, dtype: Dtype, tensor_parallel: int, pipeline: int) -> int:
    """KV bytes per token on the busiest GPU: its pipeline stage's layers × its share of the KV heads
    (a KV head is replicated when tensor parallelism exceeds the KV head count)."""
    arch = preset.architecture
    layers = math.ceil(arch.num_hidden_layers / pipeline)
    kv_heads = max(1, arch.num_key_value_heads // tensor_parallel)
    return layers * kv_heads * arch.head_dim * 2 * DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class LayoutBudget:
    """One candidate split (tensor × pipeline parallel) of a model over GPUs, and its per-GPU memory."""

    tensor_parallel: int
    pipeline: int
    total: int
    usable: int
    weights: int
    overhead: int
    kv_per_token: int

    @property
    def kv_budget(self) -> int:
        return self.usable - self.weights - self.overhead

    @property
    def max_tokens(self) -> int:
        """Tokens of KV cache one replica can hold (0 when weights and overhead already overflow)."""
        return max(0, self.kv_budget) // self.kv_per_token

    def needed_for(self, tokens: int) -> int:
        return self.weights + self.overhead + tokens * self.kv_per_token

    def fits(self, tokens: int) -> bool:
        return self.needed_for(tokens) <= self.usable


def layout_budget(
    preset: ModelPreset, gpus: GpuFacts, dtype: Dtype, tensor_parallel: int, pipeline: int, utilization: float
) -> LayoutBudget:
    total = gpus.memory_bytes_per_gpu
    return LayoutBudget(
        tensor_parallel=tensor_parallel,
        pipeline=pipeline,
        total=total,
        usable=math.floor(total * utilization),
        weights=math.ceil(weights_bytes(preset, dtype) / (tensor_parallel * pipeline)),
        overhead=overhead_bytes(preset, tensor_parallel),
        kv_per_token=kv_bytes_per_token_per_gpu(preset, dtype, tensor_parallel, pipeline),
    )


def round_context(tokens: int, limit: int) -> int:
    """The largest context to serve given room for `tokens`: the model's limit, or a round number below it."""
    if tokens >= limit:
        return limit
    return tokens // CONTEXT_ROUNDING_TOKENS * CONTEXT_ROUNDING_TOKENS


@dataclass(frozen=True)
class TuningBudget:
    """Per-GPU memory of a tuning job whose model is spread layer-wise over `gpus` GPUs."""

    gpus: int
    total: int
    usable: int
    weights: int
    overhead: int
    training: int

    @property
    def needed(self) -> int:
        return self.weights + self.overhead + self.training

    @property
    def fits(self) -> bool:
        return self.needed <= self.usable


def tuning_sequence_tokens(preset: ModelPreset) -> int:
    return min(preset.context_limit, TUNING_SEQUENCE_TOKENS)


def tuning_budget(
    preset: ModelPreset, facts: GpuFacts, dtype: Dtype, method: TuningMethod, gpus: int, utilization: float
) -> TuningBudget:
    arch = preset.architecture
    base = weights_bytes(preset, dtype)
    if method == "qlora":
        base = math.ceil(base * QLORA_WEIGHT_FRACTION)
    adapter = math.ceil(preset.parameter_count * LORA_TRAINABLE_FRACTION * ADAPTER_BYTES_PER_PARAMETER)
    tokens = tuning_sequence_tokens(preset)
    activations = tokens * arch.hidden_size * (2 * arch.num_hidden_layers + RECOMPUTE_BYTES_PER_HIDDEN)
    logits = tokens * arch.vocab_size * LOGITS_BYTES_PER_VOCAB  # lands whole on the last GPU
    total = facts.memory_bytes_per_gpu
    return TuningBudget(
        gpus=gpus,
        total=total,
        usable=math.floor(total * utilization),
        weights=math.ceil(base / gpus),
        overhead=FIXED_OVERHEAD_BYTES,
        training=math.ceil((adapter + activations) / gpus) + logits,
    )
