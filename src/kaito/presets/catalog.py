"""The model preset catalog: typed entries loaded from `models.yaml`, looked up by preset name."""

from __future__ import annotations

import difflib
import math
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

GIB = 2**30

Runtime = Literal["vllm", "transformers"]
TuningMethod = Literal["lora", "qlora"]

# Disk for a model = its weights × this margin (download temp files, a converted copy) + room for the OS
# and the serving image, rounded up to a multiple of DISK_ROUND_GIB.
DISK_WEIGHTS_MARGIN = 1.25
DISK_SYSTEM_GIB = 30
DISK_ROUND_GIB = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelArchitecture(_Frozen):
    """The transformer facts (from the model's config.json) that sizing depends on."""

    hf_class: str
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)

    @model_validator(mode="after")
    def _grouped_query_heads(self) -> ModelArchitecture:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_key_value_heads ({self.num_key_value_heads}) must divide "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        return self


class VllmHints(_Frozen):
    """Flags the vLLM server needs for this model's chat/tool/reasoning behaviour."""

    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    # None: the tokenizer's own chat template; otherwise the name of a template kaito ships.
    chat_template: str | None = None


class ModelPreset(_Frozen):
    """One servable (and maybe tunable) model with everything the planner and the runtimes need."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    hf_repo: str
    # "main" until a release pins every preset to a commit SHA of its repository.
    revision: str = "main"
    family: str
    weights_gib: float = Field(gt=0)
    context_limit: int = Field(gt=0)
    architecture: ModelArchitecture
    access_token_required: bool = False
    instruct: bool = True
    float16_ok: bool = True
    quantization: str | None = None
    min_compute_capability: float | None = None
    default_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    runtimes: tuple[Runtime, ...] = ("vllm", "transformers")
    adapter_runtimes: tuple[Runtime, ...] = ()
    tuning: bool = False
    tuning_methods: tuple[TuningMethod, ...] = ("lora", "qlora")
    vllm: VllmHints = VllmHints()

    @property
    def weights_bytes(self) -> int:
        return round(self.weights_gib * GIB)

    @property
    def disk_gib(self) -> int:
        """Disk a node needs for this model: weights with a margin plus the system, in whole GiB."""
        raw = self.weights_gib * DISK_WEIGHTS_MARGIN + DISK_SYSTEM_GIB
        return math.ceil(raw / DISK_ROUND_GIB) * DISK_ROUND_GIB

    @property
    def parameter_count(self) -> int:
        """Approximate parameter count, from 16-bit weight bytes (quantized checkpoints: an underestimate)."""
        return self.weights_bytes // 2

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """KV-cache bytes one token occupies across the whole model (all layers, all KV heads, K and V)."""
        arch = self.architecture
        return arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim * 2 * dtype_bytes

    def tensor_parallel_ok(self, size: int) -> bool:
        """Whether vLLM can shard attention over `size` GPUs: it must divide the query heads, and either
        divide the KV heads or be a multiple of them (KV heads are then replicated)."""
        arch = self.architecture
        if size < 1 or arch.num_attention_heads % size:
            return False
        kv = arch.num_key_value_heads
        return kv % size == 0 or size % kv == 0

    def tensor_parallel_sizes(self, at_most: int) -> list[int]:
        """Every valid tensor-parallel size from 1 to `at_most`, ascending."""
        return [size for size in range(1, at_most + 1) if self.tensor_parallel_ok(size)]

    def supports_tuning(self, method: TuningMethod) -> bool:
        return self.tuning and method in self.tuning_methods

    def runs_on(self, compute_capability: float | None) -> bool:
        """Whether the checkpoint has kernels for a GPU of this compute capability (None: unknown GPU)."""
        if self.min_compute_capability is None:
            return True
        return compute_capability is not None and compute_capability >= self.min_compute_capability


class PresetCatalog(_Frozen):
    """The whole `models.yaml` file."""

    presets: tuple[ModelPreset, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> PresetCatalog:
        names = [preset.name for preset in self.presets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate preset names: {', '.join(duplicates)}")
        return self


class UnknownPresetError(KeyError):
    """Raised for a preset name the catalog does not hold; the message lists the closest names."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.close_matches = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(self.close_matches)}?" if self.close_matches else "known presets:"
        listing = "" if self.close_matches else " " + ", ".join(known)
        self.message = f"unknown preset {name!r}; {hint}{listing}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@cache
def load_catalog() -> PresetCatalog:
    """Parse and validate the packaged `models.yaml` (once per process)."""
    text = resources.files("kaito.presets").joinpath("models.yaml").read_text(encoding="utf-8")
    return PresetCatalog.model_validate(yaml.safe_load(text))


def list_presets() -> list[ModelPreset]:
    """Every preset, in catalog order."""
    return list(load_catalog().presets)


def get_preset(name: str) -> ModelPreset:
    """The preset called `name` (case-insensitive); UnknownPresetError names the closest matches."""
    wanted = name.strip().lower()
    for preset in load_catalog().presets:
        if preset.name == wanted:
            return preset
    raise UnknownPresetError(name, [preset.name for preset in load_catalog().presets])
