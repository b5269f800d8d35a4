"""The two documents projected into inference pods: the runtime config and the desired-adapters list.

Both are YAML with camelCase keys in exactly the shape `kaito serve` reads (`RuntimeConfig` and
`DesiredAdapters` of `kaito.serving`; this room may not import that package, so the shapes are written here
as plain data and the tests check them with the serving parsers). The user's `inference.config`
ConfigMap is parsed and checked here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kaito.api.workspace import Workspace
from kaito.presets import ModelPreset, Plan
from kaito.validation import ConfigMapProblem, parse_inference_config

RUNTIME_CONFIG_KEY: Final = "config.yaml"
RUNTIME_CONFIG_DIR: Final = "/etc/kaito/runtime"
ADAPTERS_KEY: Final = "adapters.yaml"
ADAPTERS_DIR: Final = "/etc/kaito/adapters"
ADAPTER_FILES_DIR: Final = "/mnt/adapters"
ADAPTER_VOLUMES_DIR: Final = "/mnt/adapter-volumes"
WEIGHTS_DIR: Final = "/workspace/weights"
SERVING_PORT: Final = 5000
RAY_PORT: Final = 6379
# Engine arguments the planner owns: overriding them would break the sizing it verified.
PLANNER_OWNED: Final = frozenset({"tensor_parallel_size", "pipeline_parallel_size"})


class UserConfigError(ValueError):
    """The `inference.config` ConfigMap cannot be used; the message says what to change."""


class UserInferenceConfig(BaseModel):
    """The engine arguments of a user's ConfigMap (parsed by the shared validation module), checked
    against the ones kaito's planner owns."""

    model_config = ConfigDict(frozen=True)

    vllm: dict[str, Any] = Field(default_factory=dict)

    @property
    def max_model_len(self) -> int | None:
        for key, value in self.vllm.items():
            if _normal(key) == "max_model_len":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise UserConfigError(f"vllm.{key} must be a positive whole number, got {value!r}")
                return value
        return None


def _normal(key: str) -> str:
    return key.strip("-").replace("-", "_")


def parse_user_config(configmap: Mapping[str, Any]) -> UserInferenceConfig:
    """Read a user's ConfigMap object (key `inference_config.yaml`, `vllm:` flags); UserConfigError names
    the ConfigMap and what to change."""
    name = (configmap.get("metadata") or {}).get("name", "?")
    try:
        parsed = parse_inference_config(dict(configmap))
    except ConfigMapProblem as problem:
        raise UserConfigError(f"ConfigMap {name!r} {problem.message}") from None
    for key in parsed.vllm:
        if _normal(key) in PLANNER_OWNED:
            raise UserConfigError(
                f"ConfigMap {name!r}: `{key}` is chosen by kaito's sizing planner from the GPUs; remove it "
                "(change resource.instanceType or resource.count instead)"
            )
    config = UserInferenceConfig(vllm=dict(parsed.vllm))
    _ = config.max_model_len  # checked now, so a bad value fails here and not in the planner
    return config


def runtime_config(
    workspace: Workspace,
    preset: ModelPreset,
    plan: Plan,
    *,
    multi_node: bool,
    user: UserInferenceConfig | None = None,
) -> dict[str, Any]:
    """The RuntimeConfig document (camelCase) of this Workspace's inference pods."""
    hints = preset.vllm
    model: dict[str, Any] = {"name": preset.name, "path": preset.hf_repo, "revision": preset.revision}
    if hints.tool_call_parser:
        model["toolCallParser"] = hints.tool_call_parser
    if hints.reasoning_parser:
        model["reasoningParser"] = hints.reasoning_parser
    return {
        "model": model,
        "plan": {
            "tensorParallelSize": plan.tensor_parallel_size,
            "pipelineParallelSize": plan.pipeline_parallel_size,
            "dataParallelSize": max(1, plan.replicas_per_node),
            "maxModelLen": plan.max_model_len,
            "gpuMemoryUtilization": plan.gpu_memory_utilization,
            "dtype": plan.dtype,
        },
        "adapters": {
            # Fixed per preset, not per adapter list: adding the first adapter must not restart the pods.
            "enabled": workspace.runtime in preset.adapter_runtimes,
            "desiredFile": f"{ADAPTERS_DIR}/{ADAPTERS_KEY}",
            "directory": ADAPTER_FILES_DIR,
        },
        "distributed": {
            "workspace": workspace.metadata.name,
            "namespace": workspace.metadata.namespace,
            "nodeCount": plan.nodes if multi_node else 1,
            "rayPort": RAY_PORT,
        },
        "server": {"port": SERVING_PORT},
        "vllm": dict(user.vllm) if user else {},
    }


def adapter_volume_path(name: str) -> str:
    return f"{ADAPTER_VOLUMES_DIR}/{name}"


def desired_adapters(workspace: Workspace) -> dict[str, Any]:
    """The DesiredAdapters document: image adapters are pulled by the pod; volume adapters are read from
    their mount under /mnt/adapter-volumes/<name>."""
    adapters = []
    for adapter in workspace.inference.adapters if workspace.inference else []:
        entry: dict[str, Any] = {"name": adapter.name, "strength": adapter.strength}
        if adapter.source.image is not None:
            entry["image"] = adapter.source.image
        else:
            entry["path"] = adapter_volume_path(adapter.name)
        if adapter.source.image_pull_secrets:
            entry["imagePullSecrets"] = list(adapter.source.image_pull_secrets)
        adapters.append(entry)
    return {"adapters": adapters}


def to_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False)
