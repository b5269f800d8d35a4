"""Turn the runtime configuration and the node's GPUs into vLLM serve arguments (no vLLM import here)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from kaito.api.runtime import ConfigError, RuntimeConfig
from kaito.serving.gpus import GpuInventory

# Arguments that tie the engine to the pod's contract (Service port, model name clients use, weights mount).
RESERVED = frozenset({"model", "served-model-name", "host", "port"})

EngineArgs = dict[str, Any]


def shipped_chat_template(name: str) -> Path:
    """The path of a chat template kaito ships (`chat_templates/<name>.jinja` in this package)."""
    path = Path(str(resources.files("kaito.serving").joinpath("chat_templates", f"{name}.jinja")))
    if not path.is_file():
        raise ConfigError(f"model.chatTemplate: kaito ships no chat template named {name!r}")
    return path


def resolve_chat_template(value: str) -> str:
    """A file path or inline Jinja passes through; a bare name (`falcon-instruct`) is a shipped template."""
    if "/" in value or "{" in value or value.endswith(".jinja"):
        return value
    return str(shipped_chat_template(value))


def flag_name(key: str) -> str:
    """`max_num_seqs`, `--max-num-seqs` and `max-num-seqs` all name the flag `max-num-seqs`."""
    return key.strip().lstrip("-").replace("_", "-")


def choose_dtype(config: RuntimeConfig, gpus: GpuInventory) -> str:
    """The plan's dtype, except that GPUs older than Ampere get float16 instead of bf16 / auto."""
    wanted = config.plan.dtype
    if gpus.count and not gpus.supports_bfloat16 and wanted in ("auto", "bfloat16"):
        return "float16"
    return wanted


def plan_engine_args(config: RuntimeConfig, gpus: GpuInventory) -> EngineArgs:
    """Kaito's own choice of arguments, before user overrides."""
    plan = config.plan
    model = config.model
    args: EngineArgs = {
        "model": model.path,
        "served-model-name": model.name,
        "host": config.server.host,
        "port": config.server.port,
    }
    if model.revision:
        args["revision"] = model.revision
    if model.trust_remote_code:
        args["trust-remote-code"] = True
    if gpus.count:
        data_parallel = plan.data_parallel_size
        tensor_parallel = plan.tensor_parallel_size or max(1, gpus.count // data_parallel)
        if tensor_parallel * data_parallel > gpus.count:
            raise ConfigError(
                f"plan.tensorParallelSize ({tensor_parallel}) x plan.dataParallelSize ({data_parallel}) "
                "needs "
                f"{tensor_parallel * data_parallel} GPUs but this node has {gpus.count}; the pod landed on a "
                "smaller node than planned (check the Workspace's instanceType / labelSelector)"
            )
        args["tensor-parallel-size"] = tensor_parallel
        if data_parallel > 1:
            args["data-parallel-size"] = data_parallel
        args["gpu-memory-utilization"] = plan.gpu_memory_utilization
    else:
        # CPU nodes (CI, local cluster): one engine worker; the plan's TP describes GPUs we do not have.
        args["tensor-parallel-size"] = 1
    nodes = config.distributed.node_count
    pipeline = nodes if nodes > 1 else plan.pipeline_parallel_size
    if pipeline > 1:
        args["pipeline-parallel-size"] = pipeline
    if nodes > 1:
        args["distributed-executor-backend"] = "ray"
    if plan.max_model_len is not None:
        args["max-model-len"] = plan.max_model_len
    args["dtype"] = choose_dtype(config, gpus)
    if config.adapters.enabled:
        args["enable-lora"] = True
        args["max-loras"] = config.adapters.max_loras
        args["max-cpu-loras"] = max(config.adapters.max_cpu_loras, config.adapters.max_loras)
        args["max-lora-rank"] = config.adapters.max_lora_rank
    if model.chat_template:
        args["chat-template"] = resolve_chat_template(model.chat_template)
    if model.tool_call_parser:
        args["enable-auto-tool-choice"] = True
        args["tool-call-parser"] = model.tool_call_parser
    if model.reasoning_parser:
        args["reasoning-parser"] = model.reasoning_parser
    return args


def merge_overrides(args: EngineArgs, overrides: dict[str, Any]) -> EngineArgs:
    """User `vllm:` overrides win over kaito's choices, except for the reserved pod-contract arguments."""
    merged = dict(args)
    for key, value in overrides.items():
        name = flag_name(key)
        if name in RESERVED:
            raise ConfigError(
                f"vllm.{key}: kaito sets `--{name}` itself (it is part of the pod's contract); "
                "remove it from the ConfigMap"
            )
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def render_value(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [json.dumps(value, separators=(",", ":"))]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def render_argv(args: EngineArgs, negatable: frozenset[str] = frozenset()) -> list[str]:
    """Command-line form: True is a bare flag, False is `--no-X` where the flag is negatable, else omitted."""
    argv: list[str] = []
    for name, value in args.items():
        if value is True:
            argv.append(f"--{name}")
        elif value is False:
            if name in negatable:
                argv.append(f"--no-{name}")
        else:
            argv.append(f"--{name}")
            argv.extend(render_value(value))
    return argv


def build_engine_args(config: RuntimeConfig, gpus: GpuInventory) -> EngineArgs:
    return merge_overrides(plan_engine_args(config, gpus), config.vllm)
