"""The tuning Job's configuration document: the reconciler writes it into `<workspace>-tuning`, `kaito tune`
reads it (`config.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

TUNING_DATA_DIR: Final = Path("/mnt/data")
TUNING_OUTPUT_DIR: Final = Path("/mnt/output")

DtypeName = Literal["bfloat16", "float16", "float32"]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ModelRef(_Camel):
    """The base model: the preset name, and a local directory or Hugging Face repository to load."""

    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    revision: str = "main"


class JobConfig(_Camel):
    """`config.yaml` the workspace reconciler projects into the tuning pod."""

    model: ModelRef
    method: Literal["lora", "qlora"] = "lora"
    dtype: DtypeName = "bfloat16"
    gpus: int = Field(default=1, ge=0)
    data_dir: Path = TUNING_DATA_DIR
    output_dir: Path = TUNING_OUTPUT_DIR
    output_image: str | None = None
