"""The model preset catalog: every preset of the brief is present, typed and internally consistent."""

from __future__ import annotations

import pytest

from kaito.presets import ModelPreset, UnknownPresetError, get_preset, list_presets
from kaito.presets.catalog import GIB

BRIEF_PRESETS = {
    "phi-3-mini-4k-instruct": (7.12, 4096, True),
    "phi-3-mini-128k-instruct": (7.12, 131072, True),
    "phi-3-medium-4k-instruct": (26.0, 4096, True),
    "phi-3-medium-128k-instruct": (26.0, 131072, True),
    "phi-3.5-mini-instruct": (7.1, 131072, True),
    "phi-4-mini-instruct": (7.1, 131072, True),
    "phi-4": (27.3, 16384, True),
    "mistral-7b": (13.5, 32768, True),
    "mistral-7b-instruct": (13.5, 32768, True),
    "falcon-7b": (13.4, 2048, True),
    "falcon-7b-instruct": (13.4, 2048, True),
    "falcon-40b": (77.9, 2048, True),
    "falcon-40b-instruct": (77.9, 2048, True),
    "llama-3.1-8b-instruct": (15.0, 131072, False),
    "llama-3.3-70b-instruct": (131.4, 131072, False),
    "qwen2.5-coder-7b-instruct": (14.2, 32768, True),
    "qwen2.5-coder-32b-instruct": (61.0, 32768, True),
    "deepseek-r1-distill-llama-8b": (15.0, 131072, False),
    "deepseek-r1-distill-qwen-14b": (27.5, 131072, False),
    "gemma-3-4b-instruct": (8.6, 131072, False),
    "gemma-3-27b-instruct": (54.8, 131072, False),
    "gpt-oss-20b": (16.0, 131072, False),
    "gpt-oss-120b": (60.8, 131072, False),
}


def test_catalog_holds_exactly_the_brief_presets() -> None:
    assert {preset.name for preset in list_presets()} == set(BRIEF_PRESETS)


@pytest.mark.parametrize("name", sorted(BRIEF_PRESETS))
def test_preset_facts_match_the_brief(name: str) -> None:
    weights, context, tunable = BRIEF_PRESETS[name]
    preset = get_preset(name)
    assert preset.weights_gib == weights
    assert preset.context_limit == context
    assert preset.tuning is tunable


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: p.name)
def test_every_preset_is_internally_consistent(preset: ModelPreset) -> None:
    arch = preset.architecture
    assert "/" in preset.hf_repo
    assert preset.revision
    assert arch.num_attention_heads % arch.num_key_value_heads == 0
    assert preset.tensor_parallel_ok(1)
    assert "vllm" in preset.runtimes
    assert set(preset.adapter_runtimes) <= set(preset.runtimes)
    # Disk holds at least the weights with the margin, in whole multiples of 10 GiB.
    assert preset.disk_gib >= preset.weights_gib * 1.25
    assert preset.disk_gib % 10 == 0
    assert preset.weights_bytes == round(preset.weights_gib * GIB)
    expected_kv = arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim * 2 * 2
    assert preset.kv_bytes_per_token(2) == expected_kv
    assert preset.kv_bytes_per_token(4) == 2 * expected_kv
    if preset.tuning:
        assert preset.supports_tuning("lora")
        assert preset.supports_tuning("qlora")
    else:
        assert not preset.supports_tuning("lora")


def test_real_architecture_values() -> None:
    mini = get_preset("phi-3-mini-4k-instruct").architecture
    assert (mini.num_hidden_layers, mini.num_attention_heads, mini.num_key_value_heads, mini.head_dim) == (
        32,
        32,
        32,
        96,
    )
    assert get_preset("phi-3-mini-4k-instruct").kv_bytes_per_token(2) == 384 * 1024
    llama70 = get_preset("llama-3.3-70b-instruct").architecture
    assert (llama70.num_hidden_layers, llama70.num_attention_heads, llama70.num_key_value_heads) == (
        80,
        64,
        8,
    )


def test_tensor_parallel_sizes_follow_the_heads() -> None:
    # Falcon-7B: 71 query heads (prime) and one KV head.
    assert get_preset("falcon-7b").tensor_parallel_sizes(8) == [1]
    # Phi-3-medium: 40 heads, 10 KV heads -> TP must divide 10 or be a multiple of it.
    assert get_preset("phi-3-medium-4k-instruct").tensor_parallel_sizes(8) == [1, 2, 5]
    assert get_preset("llama-3.3-70b-instruct").tensor_parallel_sizes(8) == [1, 2, 4, 8]
    assert get_preset("qwen2.5-coder-7b-instruct").tensor_parallel_sizes(8) == [1, 2, 4]


def test_gated_models_require_a_token_and_serving_hints_are_set() -> None:
    assert get_preset("llama-3.1-8b-instruct").access_token_required
    assert get_preset("llama-3.3-70b-instruct").access_token_required
    assert not get_preset("phi-3-mini-4k-instruct").access_token_required
    assert get_preset("llama-3.1-8b-instruct").vllm.tool_call_parser == "llama3_json"
    assert get_preset("mistral-7b-instruct").vllm.tool_call_parser == "mistral"
    assert get_preset("qwen2.5-coder-7b-instruct").vllm.tool_call_parser == "hermes"
    assert get_preset("deepseek-r1-distill-qwen-14b").vllm.reasoning_parser == "deepseek_r1"


def test_lookup_is_case_insensitive() -> None:
    assert get_preset("  Phi-3-Mini-4k-Instruct ").name == "phi-3-mini-4k-instruct"


def test_unknown_preset_lists_close_names() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_preset("phi-3-mini-4k")
    assert "phi-3-mini-4k-instruct" in caught.value.close_matches
    assert "did you mean" in str(caught.value)
    assert isinstance(caught.value, KeyError)


def test_unknown_preset_without_close_names_lists_all() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_preset("zzzz")
    assert caught.value.close_matches == []
    assert "gpt-oss-20b" in str(caught.value)
