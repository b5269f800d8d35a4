"""Sizing of LoRA / QLoRA tuning jobs."""

from __future__ import annotations

import pytest

from kaito.presets import PlanError, get_preset, get_sku, list_presets, list_skus, plan_tuning
from kaito.presets.budget import QLORA_WEIGHT_FRACTION
from kaito.presets.catalog import TuningMethod


def test_qlora_phi3_mini_on_a_v100_fits_one_gpu_with_4bit_weights() -> None:
    result = plan_tuning("phi-3-mini-4k-instruct", get_sku("Standard_NC6s_v3"), "qlora")
    assert result.mode == "tuning"
    assert result.tuning_method == "qlora"
    assert result.quantization == "nf4"
    assert result.pipeline_parallel_size == 1
    assert result.dtype == "float16"
    weights = get_preset("phi-3-mini-4k-instruct").weights_bytes
    assert result.memory.weights_bytes == pytest.approx(weights * QLORA_WEIGHT_FRACTION, abs=1)
    assert result.memory.kv_cache_bytes == 0
    assert result.memory.headroom_bytes >= 0


def test_qlora_needs_less_memory_than_lora() -> None:
    sku = get_sku("Standard_NC24ads_A100_v4")
    lora = plan_tuning("phi-4", sku, "lora")
    qlora = plan_tuning("phi-4", sku, "qlora")
    assert qlora.memory.weights_bytes < lora.memory.weights_bytes


def test_large_model_spreads_over_the_fewest_gpus_and_spare_gpus_train_copies() -> None:
    result = plan_tuning("falcon-40b", get_sku("Standard_NC96ads_A100_v4"), "lora")
    assert result.pipeline_parallel_size == 2
    assert result.data_parallel_replicas == 2
    assert result.gpus_in_use_per_node == 4


def test_untunable_preset_and_multi_node_tuning_are_refused_by_field() -> None:
    with pytest.raises(PlanError) as untunable:
        plan_tuning("llama-3.1-8b-instruct", get_sku("Standard_NC24ads_A100_v4"), "qlora")
    assert untunable.value.field == "tuning.preset.name"
    assert untunable.value.reason == "TuningNotSupported"
    with pytest.raises(PlanError) as multi:
        plan_tuning("phi-3-mini-4k-instruct", get_sku("Standard_NC6s_v3"), "qlora", 2)
    assert multi.value.field == "resource.count"


def test_too_small_gpu_is_refused_with_suggestions() -> None:
    with pytest.raises(PlanError) as caught:
        plan_tuning("falcon-40b", get_sku("Standard_NC6s_v3"), "lora")
    err = caught.value
    assert err.reason == "InsufficientGPUMemory"
    assert err.shortfall is not None
    assert err.shortfall.short_bytes > 0
    assert "qlora" in err.message
    for name in err.suggested_skus:
        plan_tuning("falcon-40b", get_sku(name), "lora")


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_every_tunable_pair_fits_its_budget(method: TuningMethod) -> None:
    refused: list[str] = []
    for preset in (p for p in list_presets() if p.tuning):
        for sku in list_skus():
            try:
                result = plan_tuning(preset, sku, method)
            except PlanError as err:
                refused.append(err.reason)
                continue
            memory = result.memory
            assert memory.weights_bytes + memory.training_bytes + memory.overhead_bytes <= memory.usable_bytes
            assert result.pipeline_parallel_size * result.data_parallel_replicas <= sku.gpu_count
    assert set(refused) <= {"InsufficientGPUMemory"}
