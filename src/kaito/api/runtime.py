"""The runtime configuration `kaito serve` reads: the planned sizing plus the user's `vllm:` overrides.

The workspace reconciler writes it (YAML, camelCase keys) into a ConfigMap mounted at DEFAULT_CONFIG_PATH.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

DEFAULT_CONFIG_PATH = Path("/etc/kaito/runtime/config.yaml")
DEFAULT_ADAPTERS_FILE = Path("/etc/kaito/adapters/adapters.yaml")
DEFAULT_ADAPTERS_DIR = Path("/mnt/adapters")
DEFAULT_PULL_SECRETS_DIR = Path("/etc/kaito/pull-secrets")
DEFAULT_PORT = 5000
RAY_PORT = 6379

Dtype = Literal["auto", "float16", "bfloat16", "float32", "half", "float"]


class _Shape(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ModelSettings(_Shape):
    """Which model to serve and how clients name it."""

    name: str = Field(min_length=1, description="Preset name; the served model name clients request.")
    path: str = Field(min_length=1, description="Local directory of the weights, or a Hugging Face repo id.")
    revision: str | None = None
    trust_remote_code: bool = False
    chat_template: str | None = Field(default=None, description="Template file path or inline Jinja text.")
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None


class ParallelPlan(_Shape):
    """The planner's sizing decision for this Workspace."""

    tensor_parallel_size: int | None = Field(
        default=None, ge=1, description="GPUs per node to shard over; unset: every GPU detected on the node."
    )
    pipeline_parallel_size: int = Field(default=1, ge=1, description="Nodes to split the layers over.")
    data_parallel_size: int = Field(default=1, ge=1, description="Model copies on one node (small models).")
    max_model_len: int | None = Field(default=None, ge=16)
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    dtype: Dtype = "auto"


class AdapterSettings(_Shape):
    """Runtime LoRA adapters: whether allowed, their limits, and where the desired list and files live."""

    enabled: bool = False
    max_loras: int = Field(default=4, ge=1, description="Adapters active in one batch.")
    max_cpu_loras: int = Field(default=10, ge=1, description="Adapters kept loaded (CPU cache).")
    max_lora_rank: int = Field(default=64, ge=1)
    desired_file: Path = DEFAULT_ADAPTERS_FILE
    directory: Path = DEFAULT_ADAPTERS_DIR
    pull_secrets_dir: Path = DEFAULT_PULL_SECRETS_DIR
    resync_seconds: float = Field(default=10.0, gt=0)
    plain_http_registries: list[str] = Field(default_factory=list)


class DistributedSettings(_Shape):
    """Multi-node layout: a StatefulSet `<workspace>-N` behind the headless Service `<workspace>-headless`."""

    workspace: str = ""
    namespace: str = "default"
    node_count: int = Field(default=1, ge=1)
    ray_port: int = Field(default=RAY_PORT, ge=1, le=65535)


class ServerSettings(_Shape):
    host: str = "0.0.0.0"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)


class RuntimeConfig(_Shape):
    """Everything `kaito serve` needs, in one file."""

    model: ModelSettings
    plan: ParallelPlan = ParallelPlan()
    adapters: AdapterSettings = AdapterSettings()
    distributed: DistributedSettings = DistributedSettings()
    server: ServerSettings = ServerSettings()
    vllm: dict[str, Any] = Field(
        default_factory=dict,
        description="User overrides: vLLM serve arguments by name (`max-num-seqs: 64`, `max_num_seqs: 64`).",
    )

    @field_validator("vllm")
    @classmethod
    def _keys_are_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not isinstance(key, str) or not key.strip("-").replace("-", "_").replace("_", "").isalnum():
                raise ValueError(f"vllm override key {key!r} is not an argument name like `max-num-seqs`")
        return value


class ConfigError(ValueError):
    """The runtime configuration file is missing or malformed; the message names the field and the fix."""


def parse_config(text: str, source: str = "<config>") -> RuntimeConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return RuntimeConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{source}: {problems}") from err


def load_config(path: Path) -> RuntimeConfig:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the runtime configuration {path}: {err.strerror}") from err
    return parse_config(text, str(path))


def dump_config(config: RuntimeConfig) -> str:
    """The YAML the reconciler writes into the ConfigMap."""
    return yaml_text(config.model_dump(mode="json", by_alias=True, exclude_defaults=True))


_YAML_MEMO: dict[str, str] = {}
_YAML_MEMO_SIZE: Final = 1024
_C_DUMPER: Final = getattr(yaml, "CSafeDumper", None)
_SHORT_KEY: Final = 64


def yaml_text(document: Mapping[str, Any]) -> str:
    """``yaml.safe_dump`` of a JSON document, keys in their order, memoised on the document's JSON: the
    reconciler renders the same few documents on every pass and the YAML emitter is slow."""
    try:
        key = json.dumps(document, separators=(",", ":"))
    except TypeError:
        return yaml.safe_dump(dict(document), sort_keys=False)
    text = _YAML_MEMO.get(key)
    if text is None:
        text = _safe_dump(dict(document))
        if len(_YAML_MEMO) >= _YAML_MEMO_SIZE:
            del _YAML_MEMO[next(iter(_YAML_MEMO))]
        _YAML_MEMO[key] = text
    return text


def _safe_dump(document: dict[str, Any]) -> str:
    # libyaml's emitter writes the same text as PyYAML's for documents whose strings are all printable
    # ASCII and whose keys are short, non-empty strings (it differs in escaping, folding and complex keys
    # otherwise, which would change the ConfigMaps' hashes: those take the pure-Python emitter).
    if _C_DUMPER is not None and _plain_ascii(document):
        return yaml.dump(document, Dumper=_C_DUMPER, sort_keys=False)
    return yaml.safe_dump(document, sort_keys=False)


def _plain_ascii(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() and value.isprintable()
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and 0 < len(k) <= _SHORT_KEY and _plain_ascii(k) and _plain_ascii(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_plain_ascii(item) for item in value)
    return value is None or isinstance(value, bool | int | float)
