"""Measures what an adapter learned: mean next-token loss of the tiny model on texts, with and without it."""

from __future__ import annotations

from pathlib import Path

from kaito.tuning.config import DatasetSection
from kaito.tuning.dataset import load_examples, render_text


def mean_loss(model_dir: Path, adapter_dir: Path | None, data_dir: Path) -> float:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    losses = []
    with torch.no_grad():
        for example in load_examples(data_dir, DatasetSection(shuffle_dataset=False)):
            ids = tokenizer(render_text(example, tokenizer), return_tensors="pt")["input_ids"]
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)
