"""`kaito tune`: the process inside each fine-tuning Job (LoRA/QLoRA, data input, adapter push)."""
