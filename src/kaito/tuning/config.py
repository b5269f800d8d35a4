"""What `kaito tune` reads: the reconciler's job config and the user's `training_config.yaml` sections.

The user's sections (ModelConfig, QuantizationConfig, LoraConfig, TrainingArguments, DataCollator,
DatasetConfig) are merged over kaito's defaults for the preset and method into one `TuningParameters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kaito.api.tuning_job import DtypeName, JobConfig
from kaito.tuning.lora_targets import default_target_modules
from kaito.validation.configmaps import ConfigMapProblem, parse_tuning_config

TUNING_CONFIG_KEY = "training_config.yaml"


class TuningConfigError(ValueError):
    """The tuning configuration cannot be used; the message names the file, section and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Section):
    """Keyword arguments for loading the base model."""

    torch_dtype: DtypeName | Literal["auto"] | None = None
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    device_map: str | None = "auto"
    local_files_only: bool | None = None
    revision: str | None = None


class QuantizationSection(_Section):
    """bitsandbytes 4-bit settings (QLoRA only)."""

    load_in_4bit: bool = True
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: DtypeName = "bfloat16"


class LoraSection(_Section):
    """peft LoraConfig arguments; target modules default per model architecture."""

    r: int = Field(default=8, ge=1, le=256)
    lora_alpha: int = Field(default=8, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | str | None = None
    bias: Literal["none", "all", "lora_only"] = "none"
    use_rslora: bool = False
    modules_to_save: list[str] | None = None


# Fields kaito decides itself (the output location, where reports go); a user's value is ignored.
OWNED_TRAINING_ARGUMENTS = frozenset({"output_dir", "report_to", "push_to_hub", "hub_token", "use_cpu"})


class TrainingSection(BaseModel):
    """transformers TrainingArguments; unknown names are passed through and checked by transformers."""

    model_config = ConfigDict(extra="allow")

    per_device_train_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1
    learning_rate: float = Field(default=2e-4, gt=0)
    logging_steps: float = Field(default=1, gt=0)
    save_strategy: str = "no"
    seed: int = 42
    gradient_checkpointing: bool | None = None
    bf16: bool | None = None
    fp16: bool | None = None

    def passthrough(self) -> dict[str, Any]:
        """The extra (not modelled) arguments, minus those kaito owns."""
        extra = dict(self.model_extra or {})
        return {key: value for key, value in extra.items() if key not in OWNED_TRAINING_ARGUMENTS}

    def ignored(self) -> list[str]:
        return sorted(set(self.model_extra or {}) & OWNED_TRAINING_ARGUMENTS)


class DataCollatorSection(_Section):
    """Language-modelling collator settings: causal LM only."""

    mlm: bool = False
    pad_to_multiple_of: int | None = Field(default=None, ge=1)

    @field_validator("mlm")
    @classmethod
    def _causal_only(cls, value: bool) -> bool:
        if value:
            raise ValueError("masked language modelling does not apply to causal LMs; set `mlm: false`")
        return value


class DatasetSection(_Section):
    """Where the training data is within the data directory and which columns hold what."""

    dataset_path: str | None = None
    dataset_extension: Literal["csv", "json", "jsonl", "parquet"] | None = None
    shuffle_dataset: bool = True
    shuffle_seed: int = 42
    train_test_split: float = Field(default=1.0, gt=0.0, le=1.0)
    messages_column: str | None = None
    context_column: str | None = None
    response_column: str | None = None
    text_column: str | None = None
    max_length: int = Field(default=1024, ge=8)


class TuningParameters(BaseModel):
    """Everything training needs, after merging the user's sections over the defaults."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lora", "qlora"]
    dtype: DtypeName
    model: ModelSection
    quantization: QuantizationSection
    lora: LoraSection
    training: TrainingSection
    collator: DataCollatorSection
    dataset: DatasetSection


SECTION_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "ModelConfig": ("model", ModelSection),
    "QuantizationConfig": ("quantization", QuantizationSection),
    "LoraConfig": ("lora", LoraSection),
    "TrainingArguments": ("training", TrainingSection),
    "DataCollator": ("collator", DataCollatorSection),
    "DatasetConfig": ("dataset", DatasetSection),
}


def read_job_config(path: Path) -> JobConfig:
    """Parse the reconciler's `config.yaml`."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        raise TuningConfigError(f"cannot read the tuning config {path}: {err}") from err
    except yaml.YAMLError as err:
        raise TuningConfigError(f"{path} is not valid YAML: {err}") from err
    try:
        return JobConfig.model_validate(document or {})
    except ValidationError as err:
        raise TuningConfigError(f"{path}: {_first_error(err)}") from err


def read_user_sections(location: Path | None) -> dict[str, dict[str, Any]]:
    """The user's `training_config` sections from a mounted ConfigMap directory (or the file itself)."""
    if location is None:
        return {}
    file = location / TUNING_CONFIG_KEY if location.is_dir() else location
    try:
        text = file.read_text()
    except OSError as err:
        raise TuningConfigError(
            f"the tuning ConfigMap has no readable `{TUNING_CONFIG_KEY}` ({err}); put the YAML under that key"
        ) from err
    try:
        return parse_tuning_config({"data": {TUNING_CONFIG_KEY: text}}).training_config
    except ConfigMapProblem as err:
        raise TuningConfigError(f"tuning ConfigMap: {err.message}") from err


def _first_error(err: ValidationError) -> str:
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"field `{where}`: {first['msg']}"


def build_parameters(
    job: JobConfig, sections: dict[str, dict[str, Any]], architecture: str | None
) -> TuningParameters:
    """Merge the user's sections over the defaults for `job.method` and the model `architecture`."""
    values: dict[str, Any] = {}
    for section, (field, model) in SECTION_MODELS.items():
        given = sections.get(section) or {}
        try:
            values[field] = model.model_validate(given)
        except ValidationError as err:
            raise TuningConfigError(f"training_config.{section}: {_first_error(err)}") from err
    lora: LoraSection = values["lora"]
    if lora.target_modules is None:
        values["lora"] = lora.model_copy(update={"target_modules": default_target_modules(architecture)})
    quantization: QuantizationSection = values["quantization"]
    if job.method == "qlora" and not quantization.load_in_4bit:
        raise TuningConfigError(
            "training_config.QuantizationConfig.load_in_4bit is false but method is qlora; "
            "use method: lora for an unquantized base model"
        )
    return TuningParameters(method=job.method, dtype=job.dtype, **values)
