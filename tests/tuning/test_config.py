"""The tuning config: the job's config.yaml, the user's sections, and the defaults they are merged over."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.api.tuning_job import JobConfig
from kaito.tuning.config import (
    TuningConfigError,
    build_parameters,
    read_job_config,
    read_user_sections,
)
from kaito.tuning.lora_targets import FALLBACK_TARGETS, architecture_of, default_target_modules

from .data_files import write_user_config

JOB = JobConfig.model_validate(
    {"model": {"name": "phi-3-mini-4k-instruct", "path": "microsoft/Phi-3-mini-4k-instruct"}}
)


def test_defaults_follow_the_reference() -> None:
    params = build_parameters(JOB, {}, "Phi3ForCausalLM")
    assert (params.lora.r, params.lora.lora_alpha, params.lora.lora_dropout) == (8, 8, 0.0)
    assert params.lora.target_modules == ["qkv_proj", "o_proj"]
    assert params.training.per_device_train_batch_size == 1
    assert params.training.bf16 is None  # decided from the device: bf16 where the GPU supports it
    assert params.method == "lora"
    assert params.quantization.bnb_4bit_quant_type == "nf4"
    assert params.quantization.bnb_4bit_use_double_quant is True
    assert params.quantization.bnb_4bit_compute_dtype == "bfloat16"
    assert params.dataset.shuffle_dataset is True


def test_user_sections_override_defaults_and_pass_unknown_training_arguments(tmp_path: Path) -> None:
    user = write_user_config(
        tmp_path / "cm",
        {
            "LoraConfig": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj"]},
            "TrainingArguments": {"num_train_epochs": 3, "warmup_steps": 5, "output_dir": "/mnt/results"},
            "DatasetConfig": {"train_test_split": 0.8, "context_column": "Context"},
        },
    )
    params = build_parameters(JOB, read_user_sections(user), "Phi3ForCausalLM")
    assert (params.lora.r, params.lora.lora_alpha, params.lora.target_modules) == (16, 32, ["q_proj"])
    assert params.training.num_train_epochs == 3
    assert params.training.passthrough() == {"warmup_steps": 5}
    assert params.training.ignored() == ["output_dir"]
    assert params.dataset.train_test_split == 0.8


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"LoraConfig": {"r": 0}}, "LoraConfig: field `r`"),
        ({"LoraConfig": {"rank": 8}}, "LoraConfig: field `rank`"),
        ({"DataCollator": {"mlm": True}}, "causal LMs"),
        ({"QuantizationConfig": {"bnb_4bit_quant_type": "int3"}}, "bnb_4bit_quant_type"),
        ({"DatasetConfig": {"train_test_split": 0}}, "train_test_split"),
    ],
)
def test_bad_sections_name_the_field(sections: dict[str, dict[str, object]], message: str) -> None:
    with pytest.raises(TuningConfigError, match=message):
        build_parameters(JOB, sections, None)


def test_qlora_needs_4bit_loading() -> None:
    job = JOB.model_copy(update={"method": "qlora"})
    with pytest.raises(TuningConfigError, match="load_in_4bit"):
        build_parameters(job, {"QuantizationConfig": {"load_in_4bit": False}}, None)


def test_user_configmap_problems_are_explained(tmp_path: Path) -> None:
    (tmp_path / "cm").mkdir()
    with pytest.raises(TuningConfigError, match=r"training_config\.yaml"):
        read_user_sections(tmp_path / "cm")
    (tmp_path / "cm" / "training_config.yaml").write_text("training_config:\n  Bogus: {}\n")
    with pytest.raises(TuningConfigError, match="unknown training_config section"):
        read_user_sections(tmp_path / "cm")
    assert read_user_sections(None) == {}


def test_job_config_reads_the_reconcilers_shape(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {"model": {"name": "falcon-7b", "path": "tiiuae/falcon-7b", "revision": "abc"}, "method": "qlora",
             "dtype": "float16", "gpus": 1, "dataDir": "/mnt/data", "outputDir": "/mnt/output",
             "outputImage": "reg.io/a:1"}
        )
    )  # fmt: skip
    job = read_job_config(path)
    assert (job.method, job.dtype, str(job.output_dir), job.output_image) == (
        "qlora", "float16", "/mnt/output", "reg.io/a:1"
    )  # fmt: skip
    path.write_text("model: {name: x}\n")
    with pytest.raises(TuningConfigError, match=r"model\.path"):
        read_job_config(path)


def test_target_modules_per_architecture(tmp_path: Path) -> None:
    assert default_target_modules("FalconForCausalLM") == ["query_key_value"]
    assert default_target_modules("MistralForCausalLM") == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert default_target_modules("SomethingNew") == FALLBACK_TARGETS
    assert architecture_of("falcon-7b", None) == "FalconForCausalLM"
    (tmp_path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    assert architecture_of("tiny-llama", tmp_path) == "LlamaForCausalLM"
    assert architecture_of("tiny-llama", None) is None
