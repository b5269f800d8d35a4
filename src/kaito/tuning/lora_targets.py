"""Which modules LoRA adapts, by model architecture (the attention projections vLLM can serve adapters on)."""

from __future__ import annotations

import json
from pathlib import Path

# Fused projections where the architecture has them (Phi-3's qkv_proj, Falcon's query_key_value).
TARGET_MODULES: dict[str, list[str]] = {
    "LlamaForCausalLM": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "MistralForCausalLM": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "Qwen2ForCausalLM": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "Phi3ForCausalLM": ["qkv_proj", "o_proj"],
    "FalconForCausalLM": ["query_key_value"],
}
# peft's own choice for anything else: every linear layer but the output head.
FALLBACK_TARGETS = "all-linear"


def default_target_modules(architecture: str | None) -> list[str] | str:
    """The default LoRA targets for a Hugging Face architecture class name."""
    if architecture is None:
        return FALLBACK_TARGETS
    return list(TARGET_MODULES.get(architecture, [])) or FALLBACK_TARGETS


def architecture_of(preset_name: str, model_dir: Path | None) -> str | None:
    """The architecture class of the preset, or else the one named in the local model's config.json."""
    from kaito.presets import UnknownPresetError, get_preset

    try:
        return get_preset(preset_name).architecture.hf_class
    except UnknownPresetError:
        pass
    if model_dir is None or not (model_dir / "config.json").is_file():
        return None
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    return None
