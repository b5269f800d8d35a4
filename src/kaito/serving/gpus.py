"""Find the GPUs on this node (torch.cuda first, then nvidia-smi); on a CPU-only node there are none."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)
AMPERE = (8, 0)


@dataclass(frozen=True)
class GpuInventory:
    """The node's GPUs: how many, their names, and the oldest compute capability among them."""

    count: int = 0
    names: tuple[str, ...] = ()
    compute_capability: tuple[int, int] | None = None
    memory_mib: int = 0

    @property
    def supports_bfloat16(self) -> bool:
        """bf16 kernels need Ampere (8.0) or newer; V100 (7.0) and T4 (7.5) run float16."""
        return self.compute_capability is not None and self.compute_capability >= AMPERE


CPU_ONLY = GpuInventory()


def _from_torch() -> GpuInventory | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    count = torch.cuda.device_count()
    names = tuple(torch.cuda.get_device_name(i) for i in range(count))
    capabilities = [tuple(torch.cuda.get_device_capability(i)) for i in range(count)]
    memory = min(torch.cuda.get_device_properties(i).total_memory for i in range(count)) // (1 << 20)
    oldest = min(capabilities) if capabilities else None
    return GpuInventory(count, names, (oldest[0], oldest[1]) if oldest else None, int(memory))


def parse_nvidia_smi(output: str) -> GpuInventory:
    """Parse `nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader,nounits`."""
    names: list[str] = []
    capabilities: list[tuple[int, int]] = []
    memories: list[int] = []
    for line in output.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        names.append(parts[0])
        major, _, minor = parts[1].partition(".")
        if major.isdigit():
            capabilities.append((int(major), int(minor or 0)))
        if parts[2].isdigit():
            memories.append(int(parts[2]))
    return GpuInventory(
        count=len(names),
        names=tuple(names),
        compute_capability=min(capabilities) if capabilities else None,
        memory_mib=min(memories) if memories else 0,
    )


def _from_nvidia_smi() -> GpuInventory | None:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as err:
        log.warning("nvidia-smi failed", error=str(err))
        return None
    return parse_nvidia_smi(result.stdout)


def detect_gpus() -> GpuInventory:
    """Blocking (imports torch / runs nvidia-smi): call it once at start-up, before the event loop is busy."""
    found = _from_torch() or _from_nvidia_smi() or CPU_ONLY
    log.info("gpus detected", count=found.count, names=list(found.names), capability=found.compute_capability)
    return found
