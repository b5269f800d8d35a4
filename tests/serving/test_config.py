"""The runtime configuration file: shape, camelCase keys, clear errors, round trip through YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.api.runtime import ConfigError, RuntimeConfig, dump_config, load_config, parse_config
from kaito.presets import get_preset, get_sku, plan
from kaito.presets.runtime_config import runtime_config
from kaito.serving.engine_args import build_engine_args, shipped_chat_template
from kaito.serving.gpus import CPU_ONLY


def test_minimal_config_fills_defaults() -> None:
    config = parse_config("model: {name: phi-3-mini-4k-instruct, path: /workspace/weights}\n")
    assert config.server.port == 5000
    assert config.plan.gpu_memory_utilization == 0.9
    assert not config.adapters.enabled
    assert config.vllm == {}


def test_vllm_section_keeps_user_overrides() -> None:
    config = parse_config("model: {name: m, path: /m}\nvllm:\n  max-num-seqs: 64\n  enforce_eager: true\n")
    assert config.vllm == {"max-num-seqs": 64, "enforce_eager": True}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("model: {name: m}\n", "model.path"),
        ("model: {name: m, path: /m}\nplan: {tensorParallelSize: 0}\n", "plan.tensorParallelSize"),
        ("model: {name: m, path: /m}\nplan: {bogus: 1}\n", "plan.bogus"),
        ("model: {name: m, path: /m}\nvllm: {'max num seqs': 1}\n", "max num seqs"),
        ("- a list\n", "mapping"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_configs_name_the_field(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="config") as raised:
        parse_config(text, "config.yaml")
    assert fragment in str(raised.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_plan_round_trips_through_the_configmap_yaml(tmp_path: Path) -> None:
    preset = get_preset("falcon-7b-instruct")
    sized = plan(preset, get_sku("Standard_NC24ads_A100_v4"))
    config = runtime_config(preset, sized, workspace="ws", overrides={"max-num-seqs": 8})
    (tmp_path / "config.yaml").write_text(dump_config(config))
    loaded = load_config(tmp_path / "config.yaml")
    assert loaded == config
    assert loaded.model.chat_template == "falcon-instruct"
    args = build_engine_args(loaded, CPU_ONLY)
    assert args["chat-template"] == str(shipped_chat_template("falcon-instruct"))
    assert "User:" in shipped_chat_template("falcon-instruct").read_text()
    assert loaded.plan.max_model_len == sized.max_model_len


def test_unknown_shipped_template_is_refused() -> None:
    with pytest.raises(ConfigError, match="no chat template"):
        shipped_chat_template("nope")
    inline = RuntimeConfig.model_validate({"model": {"name": "m", "path": "/m", "chatTemplate": "{{ x }}"}})
    assert build_engine_args(inline, CPU_ONLY)["chat-template"] == "{{ x }}"


def test_model_revision_only_for_hub_ids() -> None:
    preset = get_preset("phi-3-mini-4k-instruct")
    sized = plan(preset, get_sku("Standard_NC24ads_A100_v4"))
    assert runtime_config(preset, sized).model.revision is None
    hub = runtime_config(preset, sized, model_path=preset.hf_repo)
    assert hub.model.revision == preset.revision
    assert isinstance(hub, RuntimeConfig)
