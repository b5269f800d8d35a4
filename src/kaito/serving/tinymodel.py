"""A tiny Llama, its tokenizer and LoRA adapters, built offline: the CPU stand-in for presets in CI/demos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_MODEL_NAME = "tiny-llama"
# head_dim = hidden / heads = 32: the smallest the CPU attention kernels accept.
TINY_HIDDEN = 128
TINY_HEADS = 4
TINY_LAYERS = 2
TINY_CONTEXT = 512
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
_CORPUS = """
Kaito turns a workspace manifest into a GPU sized inference service for large language models.
The operator provisions nodes, downloads weights and starts the serving engine on every node.
Adapters are small low rank matrices that change what the base model says without retraining it.
A tensor parallel group splits every layer across the GPUs of one node; pipeline parallel splits layers
across nodes. The scheduler batches requests so the accelerator stays busy while tokens stream back.
Hello, how are you today? I am fine, thank you. What is the capital of France? Paris is the capital.
Write a short poem about the sea. The waves roll in and out under the silver moon at night.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Punctuation: , . ; : ! ? ( ) [ ] { } " ' - _ / + = * & % $ # @
"""


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([line for line in _CORPUS.splitlines() if line.strip()] * 4, trainer)
    return tokenizer


def build_tiny_model(dest: Path, seed: int = 0, vocab_size: int = 512) -> Path:
    """Write a random-weight Llama (2 layers, hidden 128) and its tokenizer to `dest`; idempotent."""
    if (dest / "config.json").is_file() and (dest / "tokenizer.json").is_file():
        return dest
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    dest.mkdir(parents=True, exist_ok=True)
    raw = _train_tokenizer(vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(dest))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=TINY_HIDDEN,
        intermediate_size=TINY_HIDDEN * 2,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=TINY_HEADS,
        num_key_value_heads=TINY_HEADS,
        max_position_embeddings=TINY_CONTEXT,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(str(dest), safe_serialization=True)
    # Greedy decoding is what tests compare; no sampling defaults from the generation config.
    (dest / "generation_config.json").write_text(
        json.dumps({"bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id})
    )
    return dest


def build_tiny_adapter(model_dir: Path, dest: Path, rank: int = 8, seed: int = 1, scale: float = 4.0) -> Path:
    """Write a peft LoRA adapter for the tiny model whose weights visibly change greedy outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    base = LlamaForCausalLM.from_pretrained(str(model_dir))
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        lora_dropout=0.0,
    )
    peft_model = get_peft_model(base, config)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.mul_(scale)
    dest.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(dest), safe_serialization=True)
    return dest
