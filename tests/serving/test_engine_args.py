"""Engine arguments for every preset x SKU plan (TP/PP/DP/dtype/context), overrides, GPU detection parsing."""

from __future__ import annotations

import pytest

from kaito.api.runtime import ConfigError, DistributedSettings, ModelSettings, RuntimeConfig
from kaito.presets import GpuSku, Plan, PlanError, get_preset, list_presets, list_skus, plan
from kaito.presets.runtime_config import runtime_config
from kaito.serving.engine_args import build_engine_args, merge_overrides, render_argv
from kaito.serving.gpus import CPU_ONLY, GpuInventory, parse_nvidia_smi


def node_gpus(sku: GpuSku) -> GpuInventory:
    major, minor = divmod(round(sku.gpu.compute_capability * 10), 10)
    return GpuInventory(
        count=sku.gpu_count,
        names=(sku.gpu.product,) * sku.gpu_count,
        compute_capability=(major, minor),
        memory_mib=sku.gpu.memory_mib,
    )


def all_plans() -> list[tuple[str, str, Plan]]:
    found = []
    for preset in list_presets():
        for sku in list_skus():
            try:
                found.append((preset.name, sku.name, plan(preset, sku, node_count=1, allow_more_nodes=True)))
            except PlanError:
                continue
    return found


PLANS = all_plans()


def test_the_catalog_yields_plans_for_every_preset() -> None:
    assert {p for p, _, _ in PLANS} == {p.name for p in list_presets()}


@pytest.mark.parametrize(("preset_name", "sku_name", "sized"), PLANS, ids=[f"{p}@{s}" for p, s, _ in PLANS])
def test_engine_args_follow_the_plan(preset_name: str, sku_name: str, sized: Plan) -> None:
    preset = get_preset(preset_name)
    sku = next(s for s in list_skus() if s.name == sku_name)
    config = runtime_config(preset, sized, workspace="ws", namespace="ns")
    args = build_engine_args(config, node_gpus(sku))

    assert args["served-model-name"] == preset_name
    assert args["tensor-parallel-size"] == sized.tensor_parallel_size
    assert preset.tensor_parallel_ok(args["tensor-parallel-size"])
    assert args["tensor-parallel-size"] * args.get("data-parallel-size", 1) <= sku.gpu_count
    assert args["max-model-len"] == sized.max_model_len <= preset.context_limit
    assert args["gpu-memory-utilization"] == sized.gpu_memory_utilization
    if sized.pipeline_parallel_size > 1:
        assert args["pipeline-parallel-size"] == sized.pipeline_parallel_size
        assert args["distributed-executor-backend"] == "ray"
        assert config.distributed.node_count == sized.pipeline_parallel_size
    else:
        assert "pipeline-parallel-size" not in args
        assert "distributed-executor-backend" not in args
    if sku.gpu.compute_capability < 8.0:
        assert args["dtype"] in ("float16", "float32")  # V100 / T4: no bf16
    else:
        assert args["dtype"] == sized.dtype
    assert args.get("enable-lora", False) == ("vllm" in preset.adapter_runtimes)
    if preset.vllm.tool_call_parser:
        assert args["tool-call-parser"] == preset.vllm.tool_call_parser
        assert args["enable-auto-tool-choice"] is True
    if preset.vllm.chat_template:
        assert args["chat-template"].endswith(f"{preset.vllm.chat_template}.jinja")


def test_multi_node_plan_uses_pipeline_parallel_over_ray() -> None:
    preset = get_preset("llama-3.3-70b-instruct")
    sku = next(s for s in list_skus() if s.name == "Standard_NV36ads_A10_v5")
    sized = plan(preset, sku, node_count=8, allow_more_nodes=True)
    assert sized.pipeline_parallel_size > 1
    args = build_engine_args(runtime_config(preset, sized, workspace="ws"), node_gpus(sku))
    assert args["pipeline-parallel-size"] == sized.pipeline_parallel_size
    assert args["distributed-executor-backend"] == "ray"


def tiny_config(**fields: object) -> RuntimeConfig:
    return RuntimeConfig.model_validate({"model": {"name": "tiny", "path": "/m"}, **fields})


def test_cpu_node_runs_one_worker_and_no_gpu_flags() -> None:
    args = build_engine_args(tiny_config(plan={"tensorParallelSize": 4, "maxModelLen": 512}), CPU_ONLY)
    assert args["tensor-parallel-size"] == 1
    assert "gpu-memory-utilization" not in args
    assert args["dtype"] == "auto"


def test_unset_tensor_parallel_uses_every_gpu_on_the_node() -> None:
    gpus = GpuInventory(count=4, compute_capability=(8, 0))
    assert build_engine_args(tiny_config(), gpus)["tensor-parallel-size"] == 4


def test_pre_ampere_gpus_get_float16() -> None:
    v100 = GpuInventory(count=1, compute_capability=(7, 0))
    a100 = GpuInventory(count=1, compute_capability=(8, 0))
    assert build_engine_args(tiny_config(plan={"dtype": "bfloat16"}), v100)["dtype"] == "float16"
    assert build_engine_args(tiny_config(plan={"dtype": "bfloat16"}), a100)["dtype"] == "bfloat16"


def test_a_node_smaller_than_planned_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="needs 4 GPUs but this node has 2"):
        build_engine_args(tiny_config(plan={"tensorParallelSize": 4}), GpuInventory(count=2))


def test_overrides_win_except_reserved_arguments() -> None:
    config = tiny_config(plan={"maxModelLen": 4096}, vllm={"max_model_len": 2048, "enforce-eager": True})
    args = build_engine_args(config, CPU_ONLY)
    assert args["max-model-len"] == 2048
    assert args["enforce-eager"] is True
    with pytest.raises(ConfigError, match="--port"):
        merge_overrides(args, {"port": 1})
    assert "dtype" not in merge_overrides(args, {"dtype": None})


def test_render_argv_handles_flags_lists_and_json() -> None:
    argv = render_argv(
        {"a": True, "b": False, "c": False, "d": [1, 2], "e": {"k": 1}, "f": 0.5}, negatable=frozenset({"c"})
    )
    assert argv == ["--a", "--no-c", "--d", "1", "2", "--e", '{"k":1}', "--f", "0.5"]


def test_nvidia_smi_output_is_parsed() -> None:
    found = parse_nvidia_smi("Tesla V100-PCIE-16GB, 7.0, 16384\nTesla V100-PCIE-16GB, 7.0, 16384\n")
    assert found.count == 2
    assert found.compute_capability == (7, 0)
    assert not found.supports_bfloat16
    assert found.memory_mib == 16384
    assert parse_nvidia_smi("") == GpuInventory()


def test_multi_node_settings_need_a_workspace_name() -> None:
    config = RuntimeConfig(
        model=ModelSettings(name="m", path="/m"),
        distributed=DistributedSettings(node_count=2, workspace="ws"),
    )
    assert (
        build_engine_args(config, GpuInventory(count=1, compute_capability=(9, 0)))["pipeline-parallel-size"]
        == 2
    )
