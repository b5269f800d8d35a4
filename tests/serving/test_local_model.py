"""Local mode of `kaito serve`: a local weights directory replaces the preset's repo; plans fit the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.api.runtime import ConfigError, ModelSettings, ParallelPlan, RuntimeConfig
from kaito.serving.engine_args import build_engine_args
from kaito.serving.gpus import CPU_ONLY, GpuInventory
from kaito.serving.local_model import (
    LOCAL_MODEL_DIR_ENV,
    LOCAL_PORT_ENV_PREFIX,
    adapt_to_node,
    model_context_limit,
)

V100 = GpuInventory(count=1, names=("Tesla V100",), compute_capability=(7, 0), memory_mib=16384)


def model_dir(root: Path, context: int = 512) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": context}))
    return root


def phi3_plan() -> RuntimeConfig:
    """What the reconciler writes for phi-3-mini-4k-instruct on Standard_NC6s_v3 (V100: float16, 4k)."""
    return RuntimeConfig(
        model=ModelSettings(
            name="phi-3-mini-4k-instruct", path="microsoft/Phi-3-mini-4k-instruct", revision="abc"
        ),
        plan=ParallelPlan(tensor_parallel_size=1, max_model_len=4096, dtype="float16"),
    )


def test_local_dir_replaces_the_repo_and_cpu_fits_context_and_dtype(tmp_path: Path) -> None:
    local = model_dir(tmp_path / "tiny", context=512)
    config, changes = adapt_to_node(phi3_plan(), CPU_ONLY, {LOCAL_MODEL_DIR_ENV: str(local)})
    assert config.model.path == str(local)
    assert config.model.revision is None
    assert config.model.name == "phi-3-mini-4k-instruct"  # clients still ask for the preset's name
    assert config.plan.max_model_len == 512
    assert config.plan.dtype == "bfloat16"
    assert [(c.field, c.planned, c.used) for c in changes] == [
        ("model.path", "microsoft/Phi-3-mini-4k-instruct", str(local)),
        ("plan.maxModelLen", 4096, 512),
        ("plan.dtype", "float16", "bfloat16"),
    ]
    args = build_engine_args(config, CPU_ONLY)
    assert (args["model"], args["max-model-len"], args["dtype"]) == (str(local), 512, "bfloat16")


def test_gpu_nodes_keep_the_plan_except_the_weights_path(tmp_path: Path) -> None:
    local = model_dir(tmp_path / "tiny", context=512)
    config, changes = adapt_to_node(phi3_plan(), V100, {LOCAL_MODEL_DIR_ENV: str(local)})
    assert [c.field for c in changes] == ["model.path"]
    assert (config.plan.max_model_len, config.plan.dtype) == (4096, "float16")


def test_nothing_to_adapt_returns_the_same_config() -> None:
    original = RuntimeConfig(model=ModelSettings(name="m", path="org/m"), plan=ParallelPlan(dtype="bfloat16"))
    config, changes = adapt_to_node(original, CPU_ONLY, {})
    assert config is original
    assert changes == []


def test_context_within_the_model_limit_is_kept(tmp_path: Path) -> None:
    local = model_dir(tmp_path / "m", context=8192)
    config, changes = adapt_to_node(phi3_plan(), CPU_ONLY, {LOCAL_MODEL_DIR_ENV: str(local)})
    assert config.plan.max_model_len == 4096
    assert "plan.maxModelLen" not in [c.field for c in changes]


def test_a_missing_local_dir_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=LOCAL_MODEL_DIR_ENV):
        adapt_to_node(phi3_plan(), CPU_ONLY, {LOCAL_MODEL_DIR_ENV: str(tmp_path / "absent")})


def test_context_limit_unknown_for_repos_and_bad_files(tmp_path: Path) -> None:
    assert model_context_limit(Path("microsoft/Phi-3-mini-4k-instruct")) is None
    (tmp_path / "config.json").write_text("not json")
    assert model_context_limit(tmp_path) is None
    assert model_context_limit(model_dir(tmp_path / "ok", 256)) == 256


def test_the_runner_published_port_replaces_the_container_port() -> None:
    original = RuntimeConfig(model=ModelSettings(name="m", path="org/m"))
    config, changes = adapt_to_node(original, V100, {f"{LOCAL_PORT_ENV_PREFIX}5000": "41234"})
    assert config.server.port == 41234
    assert [(c.field, c.planned, c.used) for c in changes] == [("server.port", 5000, 41234)]
    unrelated, none = adapt_to_node(original, V100, {f"{LOCAL_PORT_ENV_PREFIX}29500": "41235"})
    assert unrelated.server.port == 5000
    assert none == []
