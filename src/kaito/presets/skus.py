"""The GPU instance-type catalog (`skus.yaml`) and GpuFacts, the per-node GPU facts the planner sizes from."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

MIB = 2**20
BF16_MIN_COMPUTE_CAPABILITY = 8.0

Cloud = Literal["azure", "aws"]

# Node labels written by NVIDIA GPU feature discovery.
LABEL_GPU_COUNT = "nvidia.com/gpu.count"
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"
LABEL_GPU_MEMORY = "nvidia.com/gpu.memory"
LABEL_COMPUTE_MAJOR = "nvidia.com/gpu.compute.major"
LABEL_COMPUTE_MINOR = "nvidia.com/gpu.compute.minor"
LABEL_GPU_FAMILY = "nvidia.com/gpu.family"

# When a node lacks the compute-capability labels: the capability of a GPU model named in the product label,
# then of the architecture family label.
_MODEL_COMPUTE_CAPABILITY = {
    "V100": 7.0, "T4": 7.5, "A100": 8.0, "A800": 8.0, "A30": 8.0, "A10": 8.6, "A10G": 8.6, "A40": 8.6,
    "A6000": 8.6, "L4": 8.9, "L40": 8.9, "L40S": 8.9, "H100": 9.0, "H200": 9.0, "H800": 9.0, "GH200": 9.0,
    "B200": 10.0,
}  # fmt: skip
_FAMILY_COMPUTE_CAPABILITY = {
    "volta": 7.0, "turing": 7.5, "ampere": 8.0, "ada-lovelace": 8.9, "hopper": 9.0, "blackwell": 10.0,
}  # fmt: skip


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GpuVariant(_Frozen):
    """One GPU product as it ships in an instance type."""

    key: str
    model: str
    product: str
    memory_gb: int = Field(gt=0, description="marketed memory size")
    memory_mib: int = Field(gt=0, description="device memory the driver reports")
    compute_capability: float

    @property
    def bf16(self) -> bool:
        return self.compute_capability >= BF16_MIN_COMPUTE_CAPABILITY


class GpuFacts(_Frozen):
    """What the planner needs to know about the GPUs of one node, from a SKU or from a node's labels."""

    gpu_count: int = Field(ge=0)
    product: str
    memory_mib_per_gpu: int = Field(ge=0)
    compute_capability: float | None = None
    sku: str | None = None
    cloud: Cloud | None = None

    @property
    def bf16(self) -> bool:
        """bfloat16 support; an unknown GPU is assumed not to have it (float16 runs everywhere)."""
        return self.compute_capability is not None and self.compute_capability >= BF16_MIN_COMPUTE_CAPABILITY

    @property
    def memory_bytes_per_gpu(self) -> int:
        return self.memory_mib_per_gpu * MIB

    @property
    def source(self) -> str:
        """How to name these GPUs in a sentence: the instance type, or the product from node labels."""
        return self.sku if self.sku else f"nodes with {self.product}"

    @classmethod
    def from_node_labels(cls, labels: Mapping[str, str]) -> GpuFacts:
        """Read the GPU feature-discovery labels of a node (memory label in MiB) into GpuFacts."""
        count = _int_label(labels, LABEL_GPU_COUNT)
        memory = _int_label(labels, LABEL_GPU_MEMORY)
        product = labels.get(LABEL_GPU_PRODUCT, "").strip() or "unknown-gpu"
        return cls(
            gpu_count=count,
            product=product,
            memory_mib_per_gpu=memory,
            compute_capability=_compute_capability(labels, product),
        )


class InvalidNodeLabelsError(ValueError):
    """A node's GPU labels are missing or malformed."""


def _int_label(labels: Mapping[str, str], key: str) -> int:
    raw = labels.get(key)
    if raw is None:
        raise InvalidNodeLabelsError(
            f"node label {key} is missing (is NVIDIA GPU feature discovery running?)"
        )
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidNodeLabelsError(f"node label {key}={raw!r} is not a whole number") from None
    if value < 0:
        raise InvalidNodeLabelsError(f"node label {key}={raw!r} is negative")
    return value


def _compute_capability(labels: Mapping[str, str], product: str) -> float | None:
    major, minor = labels.get(LABEL_COMPUTE_MAJOR), labels.get(LABEL_COMPUTE_MINOR)
    if major is not None and major.strip().isdigit():
        minor_digits = minor.strip() if minor is not None and minor.strip().isdigit() else "0"
        return float(f"{int(major)}.{minor_digits}")
    tokens = product.upper().replace("_", "-").split("-")
    for model, capability in sorted(_MODEL_COMPUTE_CAPABILITY.items(), key=lambda kv: -len(kv[0])):
        if model in tokens:
            return capability
    family = labels.get(LABEL_GPU_FAMILY, "").strip().lower()
    return _FAMILY_COMPUTE_CAPABILITY.get(family)


class GpuSku(_Frozen):
    """One cloud instance type: how many GPUs of which variant, and its disk and network."""

    name: str
    aliases: tuple[str, ...] = ()
    cloud: Cloud
    gpu: GpuVariant
    gpu_count: int = Field(gt=0)
    nvme: bool = False
    interconnect: Literal["pcie", "nvlink"] = "pcie"
    rdma: Literal["infiniband", "efa"] | None = None

    @property
    def bf16(self) -> bool:
        return self.gpu.bf16

    @property
    def total_memory_mib(self) -> int:
        return self.gpu.memory_mib * self.gpu_count

    def facts(self) -> GpuFacts:
        return GpuFacts(
            gpu_count=self.gpu_count,
            product=self.gpu.product,
            memory_mib_per_gpu=self.gpu.memory_mib,
            compute_capability=self.gpu.compute_capability,
            sku=self.name,
            cloud=self.cloud,
        )


class SkuCatalog(_Frozen):
    skus: tuple[GpuSku, ...]


class UnknownSkuError(KeyError):
    """Raised for an instance type the catalog does not hold; the message lists the closest names."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        lowered = {known_name.lower(): known_name for known_name in known}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
        self.close_matches = [lowered[match] for match in close]
        hint = f"; did you mean {', '.join(self.close_matches)}?" if self.close_matches else ""
        self.message = f"unknown GPU instance type {name!r}{hint} (`kaito plan --list-skus` lists them)"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@cache
def load_skus() -> SkuCatalog:
    """Parse the packaged `skus.yaml`, embedding each SKU's GPU variant (once per process)."""
    text = resources.files("kaito.presets").joinpath("skus.yaml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    gpus = {key: {"key": key, **fields} for key, fields in raw["gpus"].items()}
    skus = []
    for entry in raw["skus"]:
        gpu_key = entry.get("gpu")
        if gpu_key not in gpus:
            raise ValueError(f"SKU {entry.get('name')!r} names unknown GPU {gpu_key!r}")
        skus.append({**entry, "gpu": gpus[gpu_key]})
    catalog = SkuCatalog.model_validate({"skus": skus})
    names = [name.lower() for sku in catalog.skus for name in (sku.name, *sku.aliases)]
    if len(names) != len(set(names)):
        raise ValueError("skus.yaml: instance type names and aliases must be unique (case-insensitive)")
    return catalog


def list_skus(cloud: Cloud | None = None) -> list[GpuSku]:
    """Every SKU, or those of one cloud, in catalog order."""
    return [sku for sku in load_skus().skus if cloud is None or sku.cloud == cloud]


def get_sku(name: str) -> GpuSku:
    """The SKU called `name` or one of its aliases, case-insensitively; UnknownSkuError otherwise."""
    wanted = name.strip().lower()
    for sku in load_skus().skus:
        if wanted == sku.name.lower() or wanted in (alias.lower() for alias in sku.aliases):
            return sku
    raise UnknownSkuError(name, [sku.name for sku in load_skus().skus])
