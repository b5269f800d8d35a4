"""What the sizing planner returns (Plan, with its per-GPU MemoryBudget) and how it refuses (PlanError)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 2**30

Dtype = Literal["bfloat16", "float16", "float32"]
PlanMode = Literal["inference", "tuning"]
RefusalReason = Literal[
    "InsufficientGPUMemory",
    "UnsupportedGPU",
    "NoGPU",
    "ContextTooLong",
    "TooManyNodes",
    "TuningNotSupported",
    "InvalidRequest",
]


def gib(num_bytes: int | float) -> float:
    """Bytes as GiB, rounded for people (two decimals)."""
    return round(num_bytes / GIB, 2)


class MemoryBudget(BaseModel):
    """How one GPU's memory is spent, in bytes (every GPU of a plan gets the same budget)."""

    model_config = ConfigDict(frozen=True)

    total_bytes: int = Field(description="device memory of one GPU")
    usable_bytes: int = Field(description="total × gpu_memory_utilization: what the runtime may take")
    weights_bytes: int = Field(description="this GPU's share of the weights")
    overhead_bytes: int = Field(description="runtime overhead: CUDA context, graphs, activations, sampler")
    kv_cache_bytes: int = Field(description="what is left for the KV cache (inference)")
    kv_needed_bytes: int = Field(description="KV cache of one sequence of max_model_len tokens on this GPU")
    training_bytes: int = Field(0, description="tuning only: adapter, optimizer state and activations")

    @property
    def headroom_bytes(self) -> int:
        """Usable memory left after weights, overhead, one full sequence of KV cache and training state."""
        used = self.weights_bytes + self.overhead_bytes + self.kv_needed_bytes + self.training_bytes
        return self.usable_bytes - used

    def in_gib(self) -> dict[str, float]:
        return {
            "total": gib(self.total_bytes),
            "usable": gib(self.usable_bytes),
            "weights": gib(self.weights_bytes),
            "overhead": gib(self.overhead_bytes),
            "kv_cache": gib(self.kv_cache_bytes),
            "kv_for_max_model_len": gib(self.kv_needed_bytes),
            "training": gib(self.training_bytes),
        }


class Plan(BaseModel):
    """A sizing decision: how many nodes and GPUs, how the model is split, and what context fits."""

    model_config = ConfigDict(frozen=True)

    mode: PlanMode = "inference"
    preset: str
    sku: str | None = Field(description="instance type, or None for bring-your-own nodes")
    gpu_product: str
    requested_nodes: int
    nodes: int = Field(description="nodes the workload uses (the Workspace's target node count)")
    gpus_per_node: int
    gpus_in_use_per_node: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_replicas: int = Field(description="independent copies of the model across all nodes")
    replicas_per_node: int = Field(description="copies of the model per node (0 when one spans nodes)")
    max_model_len: int
    min_context: int = Field(description="the shortest context the planner accepts for this preset")
    gpu_memory_utilization: float
    dtype: Dtype
    quantization: str | None = None
    tuning_method: Literal["lora", "qlora"] | None = None
    disk_gib: int
    kv_bytes_per_token: int = Field(description="KV cache per token of the whole model, all GPUs together")
    kv_bytes_per_token_per_gpu: int
    max_kv_tokens: int = Field(description="tokens the KV cache of one replica holds")
    memory: MemoryBudget
    explanation: list[str]

    @property
    def gpus_in_use(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size * self.data_parallel_replicas

    def vllm_args(self) -> list[str]:
        """The sizing flags of one vLLM server process (one replica) for this plan."""
        return [
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--pipeline-parallel-size", str(self.pipeline_parallel_size),
            "--max-model-len", str(self.max_model_len),
            "--dtype", self.dtype,
            "--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}",
        ]  # fmt: skip


class Shortfall(BaseModel):
    """By how much the best layout the planner could try misses, per GPU."""

    model_config = ConfigDict(frozen=True)

    needed_bytes: int
    available_bytes: int
    tensor_parallel_size: int
    pipeline_parallel_size: int

    @property
    def short_bytes(self) -> int:
        return self.needed_bytes - self.available_bytes

    def in_gib(self) -> dict[str, float]:
        return {
            "needed_per_gpu": gib(self.needed_bytes),
            "available_per_gpu": gib(self.available_bytes),
            "short_per_gpu": gib(self.short_bytes),
        }


class Refusal(BaseModel):
    """PlanError as data: what the CLI prints as JSON and admission responses / conditions carry."""

    reason: RefusalReason
    field: str
    message: str
    shortfall: dict[str, float] | None = None
    suggested_skus: list[str] = []
    min_node_count: int | None = None


class PlanError(ValueError):
    """The preset cannot run on these GPUs as asked; says which field to change, by how much, and to what."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        reason: RefusalReason,
        shortfall: Shortfall | None = None,
        suggested_skus: list[str] | None = None,
        min_node_count: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason: RefusalReason = reason
        self.shortfall = shortfall
        self.suggested_skus = list(suggested_skus or [])
        self.min_node_count = min_node_count

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def to_refusal(self) -> Refusal:
        return Refusal(
            reason=self.reason,
            field=self.field,
            message=self.message,
            shortfall=self.shortfall.in_gib() if self.shortfall else None,
            suggested_skus=self.suggested_skus,
            min_node_count=self.min_node_count,
        )
