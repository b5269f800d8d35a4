"""The two documents projected into inference pods: the runtime config and the desired-adapters list.

Both are the shared models of `kaito.api` (`RuntimeConfig`, `DesiredAdapters`) that `kaito serve` reads.
The user's `inference.config` ConfigMap is parsed and checked here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from kaito.api.adapters import DesiredAdapter, DesiredAdapters
from kaito.api.runtime import (
    DEFAULT_ADAPTERS_DIR,
    DEFAULT_ADAPTERS_FILE,
    DEFAULT_CONFIG_PATH,
    DEFAULT_PORT,
    AdapterSettings,
    RuntimeConfig,
    yaml_text,
)
from kaito.api.weights import WEIGHTS_CACHE_DIR, hub_model_dir
from kaito.api.workspace import Workspace
from kaito.presets import ModelPreset, Plan
from kaito.presets.runtime_config import runtime_config as build_runtime_config
from kaito.validation import ConfigMapProblem, parse_inference_config

# Where the pods find the documents: the paths `kaito serve` reads by default.
RUNTIME_CONFIG_KEY: Final = DEFAULT_CONFIG_PATH.name
RUNTIME_CONFIG_DIR: Final = str(DEFAULT_CONFIG_PATH.parent)
ADAPTERS_KEY: Final = DEFAULT_ADAPTERS_FILE.name
ADAPTERS_DIR: Final = str(DEFAULT_ADAPTERS_FILE.parent)
ADAPTER_FILES_DIR: Final = str(DEFAULT_ADAPTERS_DIR)
ADAPTER_VOLUMES_DIR: Final = "/mnt/adapter-volumes"
WEIGHTS_DIR: Final = WEIGHTS_CACHE_DIR
SERVING_PORT: Final = DEFAULT_PORT
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
) -> RuntimeConfig:
    """The RuntimeConfig of this Workspace's inference pods.

    The model path is the directory the pod's `weights` init container (`kaito weights fetch --preset`)
    leaves the preset's weights in, so `kaito serve` only loads them.
    """
    return build_runtime_config(
        preset,
        plan,
        model_path=hub_model_dir(preset.hf_repo, preset.revision, WEIGHTS_DIR),
        workspace=workspace.metadata.name,
        namespace=workspace.metadata.namespace or "default",
        # Fixed per preset, not per adapter list: adding the first adapter must not restart the pods.
        adapters=AdapterSettings(enabled=workspace.runtime in preset.adapter_runtimes),
        overrides=dict(user.vllm) if user else None,
        node_count=plan.nodes if multi_node else 1,
    )


def adapter_volume_path(name: str) -> str:
    return f"{ADAPTER_VOLUMES_DIR}/{name}"


def desired_adapters(workspace: Workspace) -> DesiredAdapters:
    """The desired-adapters document: image adapters are pulled by the pod; volume adapters are read from
    their mount under /mnt/adapter-volumes/<name>."""
    adapters = []
    for adapter in workspace.inference.adapters if workspace.inference else []:
        image = adapter.source.image
        adapters.append(
            DesiredAdapter(
                name=adapter.name,
                strength=adapter.strength,
                image=image,
                path=None if image is not None else adapter_volume_path(adapter.name),
                image_pull_secrets=list(adapter.source.image_pull_secrets or []),
            )
        )
    return DesiredAdapters(adapters=adapters)


def adapters_yaml(desired: DesiredAdapters) -> str:
    return to_yaml(desired.model_dump(mode="json", by_alias=True))


def to_yaml(document: Mapping[str, Any]) -> str:
    return yaml_text(document)
