"""Specific sizing decisions of the planner, each derived from the formulas."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from kaito.presets import GpuFacts, PlanError, Refusal, get_preset, get_sku, plan, suggest_skus

from .invariants import check_plan, check_refusal


def test_phi3_mini_on_a_v100_is_one_node_tp1_fp16() -> None:
    result = plan("phi-3-mini-4k-instruct", get_sku("Standard_NC6s_v3"))
    assert (result.nodes, result.tensor_parallel_size, result.pipeline_parallel_size) == (1, 1, 1)
    assert result.dtype == "float16"
    assert result.max_model_len == 4096
    assert result.disk_gib == 40
    check_plan(result, get_preset("phi-3-mini-4k-instruct"), get_sku("Standard_NC6s_v3").facts(), 1, 0.9)
    assert any("float16" in line for line in result.explanation)
    assert result.vllm_args()[:2] == ["--tensor-parallel-size", "1"]


def test_phi3_medium_on_a_v100_is_refused_with_the_shortfall_and_fitting_skus() -> None:
    with pytest.raises(PlanError) as caught:
        plan("phi-3-medium-4k-instruct", get_sku("Standard_NC6s_v3"))
    err = caught.value
    assert err.reason == "InsufficientGPUMemory"
    assert err.field == "resource.instanceType"
    assert err.shortfall is not None
    # 26 GiB of weights alone exceed one V100's usable 14.2 GiB.
    assert err.shortfall.short_bytes > 26 * 2**30 - err.shortfall.available_bytes
    assert err.suggested_skus
    assert "Standard_NC6s_v3" not in err.suggested_skus
    assert all(get_sku(name).cloud == "azure" for name in err.suggested_skus)
    assert "GiB short" in err.message
    assert err.suggested_skus[0] in err.message
    # Pipelining over single-V100 nodes would work, and the refusal says with how many.
    assert err.min_node_count is not None
    assert err.min_node_count > 1
    assert f"resource.count to {err.min_node_count}" in err.message
    check_refusal(err, get_preset("phi-3-medium-4k-instruct"), 1, 0.9)


def test_raising_the_node_count_when_allowed() -> None:
    result = plan("phi-3-medium-4k-instruct", get_sku("Standard_NC6s_v3"), allow_more_nodes=True)
    assert result.nodes > 1
    assert result.requested_nodes == 1
    assert result.pipeline_parallel_size == result.nodes
    assert any("raised" in line for line in result.explanation)
    explicit = plan("phi-3-medium-4k-instruct", get_sku("Standard_NC6s_v3"), result.nodes)
    assert explicit.nodes == result.nodes
    assert explicit.max_model_len == result.max_model_len


def test_phi3_medium_on_four_v100s_splits_tp2_pp2() -> None:
    # 40 heads with 10 KV heads rule out TP 4; TP 2 alone is too tight, so the spare pair becomes a stage.
    result = plan("phi-3-medium-4k-instruct", get_sku("Standard_NC24s_v3"))
    assert (result.tensor_parallel_size, result.pipeline_parallel_size, result.nodes) == (2, 2, 1)
    assert any("not valid" in line for line in result.explanation)


@pytest.mark.parametrize("sku", ["Standard_NC48ads_A100_v4", "p4de.24xlarge", "Standard_ND96asr_v4"])
def test_falcon_40b_needs_at_least_two_gpus_of_80_gb_or_less(sku: str) -> None:
    facts = get_sku(sku).facts()
    single = facts.model_copy(update={"gpu_count": 1})
    with pytest.raises(PlanError):
        plan("falcon-40b", single)
    result = plan("falcon-40b", facts)
    assert result.tensor_parallel_size * result.pipeline_parallel_size >= 2


def test_llama_70b_on_eight_h100s_is_tp8() -> None:
    result = plan("llama-3.3-70b-instruct", get_sku("Standard_ND96isr_H100_v5"))
    assert (result.nodes, result.tensor_parallel_size, result.pipeline_parallel_size) == (1, 8, 1)
    assert result.dtype == "bfloat16"
    assert result.max_model_len == 131072
    check_plan(
        result, get_preset("llama-3.3-70b-instruct"), get_sku("Standard_ND96isr_H100_v5").facts(), 1, 0.9
    )


def test_small_model_on_many_gpus_uses_data_parallel() -> None:
    result = plan("phi-3-mini-4k-instruct", get_sku("Standard_NC96ads_A100_v4"), 2)
    assert result.tensor_parallel_size == 1
    assert result.pipeline_parallel_size == 1
    assert result.replicas_per_node == 4
    assert result.data_parallel_replicas == 8
    assert any("data-parallel" in line for line in result.explanation)


def test_multi_node_pipeline_for_llama_70b_on_a100_40gb_pairs() -> None:
    facts = GpuFacts(
        gpu_count=2, product="NVIDIA-A100-SXM4-40GB", memory_mib_per_gpu=40960, compute_capability=8.0
    )
    with pytest.raises(PlanError) as caught:
        plan("llama-3.3-70b-instruct", facts)
    needed = caught.value.min_node_count
    assert needed is not None
    assert needed >= 2
    assert caught.value.field == "resource.labelSelector"
    result = plan("llama-3.3-70b-instruct", facts, needed)
    assert result.nodes == needed
    assert result.pipeline_parallel_size == needed
    assert result.replicas_per_node == 0
    assert result.data_parallel_replicas == 1
    check_plan(result, get_preset("llama-3.3-70b-instruct"), facts, needed, 0.9)


def test_plan_from_node_labels() -> None:
    labels = {
        "nvidia.com/gpu.count": "4",
        "nvidia.com/gpu.product": "NVIDIA-A10G",
        "nvidia.com/gpu.memory": "23028",
    }
    facts = GpuFacts.from_node_labels(labels)
    result = plan("llama-3.1-8b-instruct", facts)
    assert result.gpus_per_node == 4
    assert result.sku is None
    assert result.tensor_parallel_size == 4
    assert result.dtype == "bfloat16"
    assert result.explanation[0].startswith("nodes with NVIDIA-A10G")


def test_max_model_len_is_the_largest_round_context_that_fits() -> None:
    result = plan("phi-3-mini-128k-instruct", get_sku("Standard_NC6s_v3"))
    assert 4096 <= result.max_model_len < 131072
    assert result.max_model_len % 1024 == 0
    assert result.max_model_len <= result.max_kv_tokens < result.max_model_len + 1024


def test_requested_max_model_len_is_honoured_or_refused_with_the_maximum() -> None:
    sku = get_sku("Standard_NC6s_v3")
    assert plan("phi-3-mini-128k-instruct", sku, max_model_len=8192).max_model_len == 8192
    with pytest.raises(PlanError) as caught:
        plan("phi-3-mini-128k-instruct", sku, max_model_len=131072)
    assert caught.value.reason == "ContextTooLong"
    assert caught.value.field == "max_model_len"
    assert "lower it to" in caught.value.message
    with pytest.raises(PlanError, match="outside"):
        plan("phi-3-mini-4k-instruct", sku, max_model_len=8192)


def test_gemma_without_bf16_runs_in_float32() -> None:
    result = plan("gemma-3-4b-instruct", get_sku("Standard_NC24s_v3"))
    assert result.dtype == "float32"
    assert any("float32" in line for line in result.explanation)
    assert plan("gemma-3-4b-instruct", get_sku("Standard_NV36ads_A10_v5")).dtype == "bfloat16"


def test_gpt_oss_refuses_gpus_before_ampere() -> None:
    with pytest.raises(PlanError) as caught:
        plan("gpt-oss-20b", get_sku("Standard_NC24s_v3"))
    assert caught.value.reason == "UnsupportedGPU"
    assert caught.value.suggested_skus
    assert all(get_sku(name).bf16 for name in caught.value.suggested_skus)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"node_count": 0}, "resource.count"), ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization")],
)
def test_bad_numbers_are_refused_by_field(kwargs: dict[str, float], field: str) -> None:
    node_count = int(kwargs.get("node_count", 1))
    utilization = float(kwargs.get("gpu_memory_utilization", 0.9))
    with pytest.raises(PlanError) as caught:
        plan(
            "phi-3-mini-4k-instruct",
            get_sku("Standard_NC6s_v3"),
            node_count,
            gpu_memory_utilization=utilization,
        )
    assert caught.value.field == field
    assert caught.value.reason == "InvalidRequest"


def test_nodes_without_gpus_and_unknown_presets_are_refused() -> None:
    empty = GpuFacts(gpu_count=0, product="none", memory_mib_per_gpu=0)
    with pytest.raises(PlanError) as caught:
        plan("phi-3-mini-4k-instruct", empty)
    assert caught.value.reason == "NoGPU"
    with pytest.raises(PlanError) as unknown:
        plan("phi-9", get_sku("Standard_NC6s_v3"))
    assert unknown.value.field == "inference.preset.name"


def test_suggestions_are_the_smallest_fitting_skus_one_per_gpu_configuration() -> None:
    names = suggest_skus("phi-3-mini-4k-instruct", "aws", limit=10)
    assert names[0] in {"g4dn.xlarge", "p3.2xlarge"}
    configs = [(get_sku(name).gpu.key, get_sku(name).gpu_count) for name in names]
    assert len(configs) == len(set(configs))
    sizes = [get_sku(name).total_memory_mib for name in names]
    assert sizes == sorted(sizes)
    assert suggest_skus("llama-3.3-70b-instruct", "azure")[0] != "Standard_NC6s_v3"


def test_plan_error_reads_as_a_field_error_inside_pydantic_validation() -> None:
    class Request(BaseModel):
        preset: str
        instance_type: str

        @model_validator(mode="after")
        def _fits(self) -> Request:
            plan(self.preset, get_sku(self.instance_type))
            return self

    with pytest.raises(ValidationError) as caught:
        Request(preset="phi-3-medium-4k-instruct", instance_type="Standard_NC6s_v3")
    assert "resource.instanceType: phi-3-medium-4k-instruct needs" in str(caught.value)
    refusal = Refusal.model_validate_json(
        PlanError("x", field="resource.count", reason="InvalidRequest").to_refusal().model_dump_json()
    )
    assert refusal.field == "resource.count"
