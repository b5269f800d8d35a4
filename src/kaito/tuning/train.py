"""LoRA / QLoRA training with transformers + peft: load the base model, train on examples, save the adapter.

Imports torch, transformers and peft (the `tuning` extra); nothing else in `kaito.tuning` needs them.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from kaito.tuning.config import TuningParameters
from kaito.tuning.dataset import Example, render_text, split
from kaito.tuning.errors import TuningError
from kaito.tuning.progress import ProgressTracker

log = structlog.get_logger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run reports (also written into the completion marker)."""

    steps: int
    losses: list[tuple[int, float]]
    eval_loss: float | None
    train_examples: int
    eval_examples: int
    device: str
    dtype: str
    seconds: float


def check_method(method: str, cuda: bool) -> None:
    """Refuse QLoRA where bitsandbytes 4-bit kernels cannot run, before loading anything."""
    if method != "qlora":
        return
    if not cuda:
        raise TuningError(
            "qlora quantizes the base model to 4-bit with bitsandbytes, which needs a CUDA GPU, and none "
            "is visible; run on a GPU node, or set tuning.method: lora"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise TuningError(
            "qlora needs the bitsandbytes package, which this tuning image lacks; use the GPU tuning image "
            "(the `tuning` extra on linux x86_64) or set tuning.method: lora"
        ) from err


def _compute_dtype(params: TuningParameters, cuda: bool) -> torch.dtype:
    if not cuda:
        return torch.float32  # CPU training: full precision (bf16 autocast on CPU is slow and lossy)
    wanted = params.model.torch_dtype if params.model.torch_dtype not in (None, "auto") else params.dtype
    dtype = DTYPES[str(wanted)]
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        log.info("this GPU has no bfloat16; training in float16")
        return torch.float16
    return dtype


def _load_model(
    params: TuningParameters, model_path: str, revision: str, cuda: bool, dtype: torch.dtype
) -> Any:
    section = params.model
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "trust_remote_code": section.trust_remote_code,
        "revision": section.revision or revision,
        "local_files_only": section.local_files_only
        if section.local_files_only is not None
        else Path(model_path).is_dir(),
    }
    if section.attn_implementation:
        kwargs["attn_implementation"] = section.attn_implementation
    if cuda and section.device_map:
        kwargs["device_map"] = section.device_map
    if params.method == "qlora":
        from transformers import BitsAndBytesConfig

        quant = params.quantization
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=quant.bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=DTYPES[quant.bnb_4bit_compute_dtype],
        )
    try:
        return AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except (OSError, ValueError) as err:
        raise TuningError(f"cannot load the base model from {model_path}: {err}") from err


def _tokenize(examples: list[Example], tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    features = []
    for example in examples:
        text = render_text(example, tokenizer)
        bos = tokenizer.bos_token
        encoded = tokenizer(
            text,
            truncation=True,
            max_length=max_length,
            add_special_tokens=not (bos and text.startswith(bos)),
        )
        if len(encoded["input_ids"]) >= 2:
            features.append({"input_ids": list(encoded["input_ids"])})
    if not features:
        raise TuningError("every training example is empty after tokenization")
    return features


class CausalCollator:
    """Pads a batch; labels are the inputs, with padding ignored (end-of-text tokens are kept)."""

    def __init__(self, pad_id: int, multiple_of: int | None) -> None:
        self.pad_id = pad_id
        self.multiple_of = multiple_of

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(item["input_ids"]) for item in batch)
        if self.multiple_of:
            length = -(-length // self.multiple_of) * self.multiple_of
        ids, mask, labels = [], [], []
        for item in batch:
            tokens = item["input_ids"]
            padding = length - len(tokens)
            ids.append(tokens + [self.pad_id] * padding)
            mask.append([1] * len(tokens) + [0] * padding)
            labels.append(tokens + [IGNORE_INDEX] * padding)
        return {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels),
        }


class _ProgressCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(self, tracker: ProgressTracker) -> None:
        self.tracker = tracker

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.tracker.begin(state.max_steps, state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
        self.tracker.record(state.global_step, state.max_steps, state.epoch, values)


def _training_arguments(params: TuningParameters, workdir: str, cuda: bool, dtype: torch.dtype) -> Any:
    section = params.training
    for name in section.ignored():
        log.warning("ignoring a TrainingArguments field kaito sets itself", field=name)
    checkpointing = section.gradient_checkpointing if section.gradient_checkpointing is not None else cuda
    kwargs: dict[str, Any] = {
        **section.passthrough(),
        "output_dir": workdir,
        "report_to": [],
        "use_cpu": not cuda,
        "per_device_train_batch_size": section.per_device_train_batch_size,
        "gradient_accumulation_steps": section.gradient_accumulation_steps,
        "num_train_epochs": section.num_train_epochs,
        "max_steps": section.max_steps,
        "learning_rate": section.learning_rate,
        "logging_steps": section.logging_steps,
        "save_strategy": section.save_strategy,
        "seed": section.seed,
        "gradient_checkpointing": checkpointing,
        "bf16": section.bf16 if section.bf16 is not None else (cuda and dtype == torch.bfloat16),
        "fp16": section.fp16 if section.fp16 is not None else (cuda and dtype == torch.float16),
        "disable_tqdm": True,
        "dataloader_pin_memory": cuda,
    }
    if checkpointing:
        kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    try:
        return TrainingArguments(**kwargs)
    except (TypeError, ValueError) as err:
        raise TuningError(f"training_config.TrainingArguments: {err}") from err


def _name_base_model(config_file: Path, base_model_id: str) -> None:
    """Record the preset's model id rather than the local path it was loaded from."""
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = base_model_id
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True))


def train_adapter(
    params: TuningParameters,
    examples: list[Example],
    model_path: str,
    adapter_dir: Path,
    tracker: ProgressTracker,
    *,
    revision: str = "main",
    base_model_id: str | None = None,
) -> TrainingResult:
    """Train a LoRA (or QLoRA) adapter on `examples` and save it to `adapter_dir`."""
    cuda = torch.cuda.is_available()
    check_method(params.method, cuda)
    started = time.monotonic()
    dtype = _compute_dtype(params, cuda)
    tokenizer = AutoTokenizer.from_pretrained(
        model_path,
        revision=params.model.revision or revision,
        trust_remote_code=params.model.trust_remote_code,
        local_files_only=Path(model_path).is_dir(),
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = _load_model(params, model_path, revision, cuda, dtype)
    with tempfile.TemporaryDirectory(prefix="kaito-trainer-") as workdir:
        return _train(
            params, examples, model, tokenizer, workdir, adapter_dir, tracker, base_model_id, started
        )


def _train(
    params: TuningParameters,
    examples: list[Example],
    model: Any,
    tokenizer: Any,
    workdir: str,
    adapter_dir: Path,
    tracker: ProgressTracker,
    base_model_id: str | None,
    started: float,
) -> TrainingResult:
    cuda = torch.cuda.is_available()
    dtype = _compute_dtype(params, cuda)
    training_args = _training_arguments(params, workdir, cuda, dtype)
    if params.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(training_args.gradient_checkpointing)
        )
    lora = params.lora
    peft_config = LoraConfig(
        task_type="CAUSAL_LM",
        r=lora.r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.target_modules,
        bias=lora.bias,
        use_rslora=lora.use_rslora,
        modules_to_save=lora.modules_to_save,
    )
    try:
        model = get_peft_model(model, peft_config)
    except ValueError as err:
        raise TuningError(f"training_config.LoraConfig: {err}") from err
    train_examples, eval_examples = split(examples, params.dataset.train_test_split)
    max_length = params.dataset.max_length
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=_tokenize(train_examples, tokenizer, max_length),
        eval_dataset=_tokenize(eval_examples, tokenizer, max_length) if eval_examples else None,
        data_collator=CausalCollator(tokenizer.pad_token_id, params.collator.pad_to_multiple_of),
        callbacks=[_ProgressCallback(tracker)],
    )
    trainer.remove_callback(PrinterCallback)  # progress is logged as structured lines instead
    log.info(
        "training",
        method=params.method,
        device="cuda" if cuda else "cpu",
        dtype=str(dtype).removeprefix("torch."),
        examples=len(train_examples),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )
    trainer.train()
    eval_loss = None
    if eval_examples:
        metrics = trainer.evaluate()
        eval_loss = float(metrics["eval_loss"])
        tracker.record(trainer.state.global_step, trainer.state.max_steps, trainer.state.epoch,
                       {"eval_loss": eval_loss})  # fmt: skip
    adapter_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(adapter_dir), safe_serialization=True)
    if base_model_id:
        _name_base_model(adapter_dir / "adapter_config.json", base_model_id)
    tracker.finish(trainer.state.global_step)
    return TrainingResult(
        steps=trainer.state.global_step,
        losses=list(tracker.losses),
        eval_loss=eval_loss,
        train_examples=len(train_examples),
        eval_examples=len(eval_examples),
        device="cuda" if cuda else "cpu",
        dtype=str(dtype).removeprefix("torch."),
        seconds=time.monotonic() - started,
    )
