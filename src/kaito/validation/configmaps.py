"""The user's ConfigMaps a Workspace names in `config`: where their YAML lives and what shape it must have.

Inference: key `inference_config.yaml`, a YAML mapping with an optional `vllm:` mapping of engine flags.
Tuning: key `training_config.yaml`, a YAML mapping `training_config:` of known sections, each a mapping.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

INFERENCE_CONFIG_KEY = "inference_config.yaml"
TUNING_CONFIG_KEY = "training_config.yaml"
TUNING_SECTIONS = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DatasetConfig",
    "DataCollator",
)

Scalar = str | int | float | bool | None
FlagValue = Scalar | list[Scalar]


class InferenceConfig(BaseModel):
    """The parsed inference ConfigMap: extra vLLM engine flags (`max-model-len: 4096`, ...)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    vllm: dict[str, FlagValue] = Field(default_factory=dict)


class TuningConfig(BaseModel):
    """The parsed tuning ConfigMap: keyword arguments per training section."""

    model_config = ConfigDict(extra="forbid", strict=True)

    training_config: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ConfigMapProblem(ValueError):
    """The ConfigMap's content is missing or malformed; `message` says which key and what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _document(configmap: dict[str, Any], key: str) -> dict[str, Any]:
    data = configmap.get("data") or {}
    if not isinstance(data, dict) or key not in data:
        keys = ", ".join(sorted(str(k) for k in data)) if isinstance(data, dict) and data else "none"
        raise ConfigMapProblem(f"has no data key `{key}` (found: {keys}); put the YAML under `{key}`")
    text = data[key]
    if not isinstance(text, str):
        raise ConfigMapProblem(f"data key `{key}` must hold YAML text")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigMapProblem(f"`{key}` is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ConfigMapProblem(f"`{key}` must be a YAML mapping, not a {type(parsed).__name__}")
    return parsed


def _first_error(exc: ValidationError, key: str) -> ConfigMapProblem:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return ConfigMapProblem(f"`{key}` has an unknown top-level key `{where}`")
    return ConfigMapProblem(f"`{key}` field `{where}`: {error['msg']}")


def parse_inference_config(configmap: dict[str, Any]) -> InferenceConfig:
    """Parse an inference ConfigMap object (its `data`); ConfigMapProblem says what is wrong."""
    document = _document(configmap, INFERENCE_CONFIG_KEY)
    try:
        return InferenceConfig.model_validate(document)
    except ValidationError as exc:
        raise _first_error(exc, INFERENCE_CONFIG_KEY) from None


def parse_tuning_config(configmap: dict[str, Any]) -> TuningConfig:
    """Parse a tuning ConfigMap object (its `data`); ConfigMapProblem says what is wrong."""
    document = _document(configmap, TUNING_CONFIG_KEY)
    try:
        config = TuningConfig.model_validate(document)
    except ValidationError as exc:
        raise _first_error(exc, TUNING_CONFIG_KEY) from None
    unknown = sorted(set(config.training_config) - set(TUNING_SECTIONS))
    if unknown:
        raise ConfigMapProblem(
            f"`{TUNING_CONFIG_KEY}` has unknown training_config section(s) {', '.join(unknown)}; "
            f"known sections: {', '.join(TUNING_SECTIONS)}"
        )
    return config
