"""LoRA training on the tiny model: every data format trains, loss goes down, the adapter and the
completion marker land in the output, progress shows up as metrics, and QLoRA without CUDA is refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from kaito.cli.main import main
from kaito.tuning.errors import TuningError
from kaito.tuning.runner import COMPLETION_MARKER, TuneOptions, run_tune

from .adapter_check import mean_loss
from .data_files import WRITERS, write_job_config, write_user_config

pytestmark = pytest.mark.tuning
FAST = {"TrainingArguments": {"max_steps": 4, "learning_rate": 0.02}}


def _job(tmp_path: Path, model: Path, fmt: str, sections: Mapping[str, object] = FAST) -> TuneOptions:
    data = tmp_path / "data"
    data.mkdir()
    WRITERS[fmt](data)
    config = write_job_config(tmp_path / "config.yaml", model, data, tmp_path / "out")
    return TuneOptions(config=config, user_config=write_user_config(tmp_path / "cm", sections))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_lora_learns_from_each_format(tmp_path: Path, tiny_model: Path, fmt: str) -> None:
    if fmt.startswith("parquet"):
        pytest.importorskip("pyarrow")
    options = _job(tmp_path, tiny_model, fmt)
    marker = run_tune(options)
    out = tmp_path / "out"
    assert (out / "adapter_config.json").is_file()
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / COMPLETION_MARKER).read_text())["steps"] == marker.steps == 4
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["base_model_name_or_path"]) == (8, 8, "tiny-llama")
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    before = mean_loss(tiny_model, None, tmp_path / "data")
    after = mean_loss(tiny_model, out, tmp_path / "data")
    assert after < before, f"{fmt}: loss {before:.4f} -> {after:.4f}"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_progress_metrics_eval_split_and_rerun(tmp_path: Path, tiny_model: Path) -> None:
    sections = {**FAST, "DatasetConfig": {"train_test_split": 0.5}}
    options = _job(tmp_path, tiny_model, "jsonl-messages", sections)
    registry: CollectorRegistry = options.registry
    marker = run_tune(options)
    assert registry.get_sample_value("kaito_tuning_step") == 4
    assert registry.get_sample_value("kaito_tuning_max_steps") == 4
    assert registry.get_sample_value("kaito_tuning_completed") == 1
    assert registry.get_sample_value("kaito_tuning_eta_seconds") == 0
    assert registry.get_sample_value("kaito_tuning_loss") == marker.final_loss
    assert marker.eval_loss is not None
    assert registry.get_sample_value("kaito_tuning_eval_loss") == marker.eval_loss
    assert marker.train_examples == 3
    # A Job retry after the adapter is complete only publishes; it does not train again.
    weights = tmp_path / "out" / "adapter_model.safetensors"
    stamp = weights.stat().st_mtime_ns
    rerun = TuneOptions(config=options.config, user_config=options.user_config)
    assert run_tune(rerun).finished_at == marker.finished_at
    assert weights.stat().st_mtime_ns == stamp


def test_qlora_without_cuda_is_refused_clearly(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    WRITERS["csv-instruction"](data)
    config = write_job_config(tmp_path / "config.yaml", tiny_model, data, tmp_path / "out", method="qlora")
    code = main(["tune", "--config", str(config), "--metrics-port", "0"])
    assert code == 1
    error = capsys.readouterr().err
    assert "CUDA GPU" in error
    assert "tuning.method: lora" in error
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_training_argument_mistakes_are_reported(tmp_path: Path, tiny_model: Path) -> None:
    options = _job(tmp_path, tiny_model, "csv-instruction", {"TrainingArguments": {"no_such_argument": 1}})
    with pytest.raises(TuningError, match="no_such_argument"):
        run_tune(options)
