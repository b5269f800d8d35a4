"""User overrides checked by vLLM's own parser, and LoRA strength scaling (need vLLM / torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.api.runtime import ConfigError

from .serving_env import TinyAssets

pytestmark = pytest.mark.vllm


def test_valid_overrides_parse_into_vllm_namespace() -> None:
    from kaito.serving.vllm_args import parse_engine_args

    namespace = parse_engine_args(
        {
            "model": "/m",
            "max-model-len": 512,
            "enable-prefix-caching": False,
            "compilation-config": {"mode": 0},
        }
    )
    assert namespace.max_model_len == 512
    assert namespace.enable_prefix_caching is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"max-num-seq": 3}, "did you mean `max-num-seqs`"),
        ({"max-model-len": "lots"}, "--max-model-len"),
        ({"dtype": "int3"}, "invalid choice"),
        ({"not-a-flag-at-all": 1}, "no argument `--not-a-flag-at-all`"),
    ],
)
def test_unknown_or_malformed_overrides_are_clear_errors(override: dict[str, object], message: str) -> None:
    from kaito.serving.vllm_args import parse_engine_args

    with pytest.raises(ConfigError, match=r"vllm|vLLM") as raised:
        parse_engine_args({"model": "/m", **override})
    assert message in str(raised.value)


def test_kaito_serve_refuses_a_bad_override_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kaito.serving.main import run_serve

    (tmp_path / "config.yaml").write_text("model: {name: m, path: /m}\nvllm: {max-num-seq: 4}\n")
    assert run_serve(tmp_path / "config.yaml") == 2
    assert "did you mean `max-num-seqs`" in capsys.readouterr().err


def test_print_args_shows_the_full_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kaito.serving.main import run_serve

    (tmp_path / "config.yaml").write_text(
        "model: {name: m, path: /m}\nplan: {maxModelLen: 256}\nadapters: {enabled: true}\n"
        "vllm: {max-num-seqs: 4}\n"
    )
    assert run_serve(tmp_path / "config.yaml", print_args=True) == 0
    out = capsys.readouterr().out
    assert "--served-model-name m" in out
    assert "--max-model-len 256" in out
    assert "--enable-lora" in out
    assert "--max-num-seqs 4" in out


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_strength_scales_only_lora_b(tiny_assets: TinyAssets, tmp_path: Path, strength: float) -> None:
    import torch
    from safetensors.torch import load_file

    from kaito.serving.adapter_stage import ADAPTER_WEIGHTS, scale_lora_b

    scale_lora_b(tiny_assets.adapter_a, tmp_path / "out", strength)
    before = load_file(str(tiny_assets.adapter_a / ADAPTER_WEIGHTS))
    after = load_file(str(tmp_path / "out" / ADAPTER_WEIGHTS))
    assert before.keys() == after.keys()
    for key, tensor in before.items():
        expected = tensor * strength if "lora_B" in key else tensor
        assert torch.allclose(after[key], expected), key
    assert (tmp_path / "out" / "adapter_config.json").is_file()
