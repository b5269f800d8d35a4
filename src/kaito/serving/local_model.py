"""Local mode of `kaito serve`: weights already on the node (`KAITO_LOCAL_MODEL_DIR`) and CPU-only nodes.

The local cluster maps the serving image to `kaito serve` on the host; there the preset's Hugging Face repo is
replaced by a model directory on disk, the GPU plan (context length, fp16 for V100) is fitted to the CPU, and
the server listens on the loopback port the local pod runner published for the container's port.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kaito.api.runtime import ConfigError, RuntimeConfig
from kaito.serving.gpus import GpuInventory

LOCAL_MODEL_DIR_ENV = "KAITO_LOCAL_MODEL_DIR"
# The local cluster's runner publishes each containerPort on a free loopback port named by this variable.
LOCAL_PORT_ENV_PREFIX = "KAITO_LOCAL_PORT_"
# dtypes vLLM's CPU backend computes in; float16 plans (made for V100/T4) become bfloat16 on CPU.
CPU_DTYPES = frozenset({"auto", "bfloat16", "float32", "float"})
CPU_FALLBACK_DTYPE = "bfloat16"


@dataclass(frozen=True)
class Adaptation:
    """One change made to the planned configuration, and why (logged at start-up)."""

    field: str
    planned: object
    used: object
    reason: str


def model_context_limit(model_dir: Path) -> int | None:
    """`max_position_embeddings` of a local model directory's config.json, None when unknown."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def adapt_to_node(
    config: RuntimeConfig, gpus: GpuInventory, environ: Mapping[str, str]
) -> tuple[RuntimeConfig, list[Adaptation]]:
    """The configuration this node can serve, plus the list of changes made to the planned one."""
    adaptations: list[Adaptation] = []
    model = config.model
    plan = config.plan
    local_dir = environ.get(LOCAL_MODEL_DIR_ENV, "").strip()
    if local_dir:
        path = Path(local_dir)
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{LOCAL_MODEL_DIR_ENV}={local_dir}: no config.json there; point it at a Hugging Face model "
                "directory (e.g. one written by kaito.serving.tinymodel.build_tiny_model) or unset it"
            )
        adaptations.append(
            Adaptation(
                "model.path", model.path, local_dir, f"weights already on the node ({LOCAL_MODEL_DIR_ENV})"
            )
        )
        model = model.model_copy(update={"path": local_dir, "revision": None})
    if not gpus.count:
        limit = model_context_limit(Path(model.path))
        if limit is not None and plan.max_model_len is not None and plan.max_model_len > limit:
            adaptations.append(
                Adaptation(
                    "plan.maxModelLen",
                    plan.max_model_len,
                    limit,
                    "the model's max_position_embeddings (CPU node)",
                )
            )
            plan = plan.model_copy(update={"max_model_len": limit})
        if plan.dtype not in CPU_DTYPES:
            adaptations.append(
                Adaptation(
                    "plan.dtype", plan.dtype, CPU_FALLBACK_DTYPE, "no GPU: vLLM's CPU backend runs bf16/fp32"
                )
            )
            plan = plan.model_copy(update={"dtype": CPU_FALLBACK_DTYPE})
    server = config.server
    published = environ.get(f"{LOCAL_PORT_ENV_PREFIX}{server.port}", "").strip()
    if published.isdigit() and int(published) != server.port:
        adaptations.append(
            Adaptation("server.port", server.port, int(published), "the port the local pod runner published")
        )
        server = server.model_copy(update={"port": int(published)})
    if not adaptations:
        return config, []
    return config.model_copy(update={"model": model, "plan": plan, "server": server}), adaptations
