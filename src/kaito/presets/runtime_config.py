"""Build the runtime configuration of inference pods from a preset and the planner's Plan.

The workspace reconciler writes the result into the `<workspace>-runtime` ConfigMap; `kaito serve` reads it.
"""

from __future__ import annotations

from typing import Any

from kaito.api.runtime import (
    AdapterSettings,
    DistributedSettings,
    ModelSettings,
    ParallelPlan,
    RuntimeConfig,
    ServerSettings,
)
from kaito.presets.catalog import ModelPreset
from kaito.presets.plan_types import Plan

DEFAULT_WEIGHTS_DIR = "/workspace/weights"


def runtime_config(
    preset: ModelPreset,
    plan: Plan,
    *,
    model_path: str | None = None,
    workspace: str = "",
    namespace: str = "default",
    adapters: AdapterSettings | None = None,
    overrides: dict[str, Any] | None = None,
    server: ServerSettings | None = None,
    node_count: int | None = None,
) -> RuntimeConfig:
    """The serving configuration of one inference pod for `preset` sized by `plan`.

    `model_path`: where the weights are mounted (default /workspace/weights), or a HF repo id to download.
    `adapters`: None enables runtime adapters for presets whose `adapter_runtimes` include vLLM.
    `node_count`: pods in one model group (default: the plan's pipeline stages).
    """
    if adapters is None:
        adapters = AdapterSettings(enabled="vllm" in preset.adapter_runtimes)
    hints = preset.vllm
    path = model_path or DEFAULT_WEIGHTS_DIR
    return RuntimeConfig(
        model=ModelSettings(
            name=preset.name,
            path=path,
            revision=None if path.startswith("/") else preset.revision,
            chat_template=hints.chat_template,
            tool_call_parser=hints.tool_call_parser,
            reasoning_parser=hints.reasoning_parser,
        ),
        plan=ParallelPlan(
            tensor_parallel_size=plan.tensor_parallel_size,
            pipeline_parallel_size=plan.pipeline_parallel_size,
            data_parallel_size=max(1, plan.replicas_per_node),
            max_model_len=plan.max_model_len,
            gpu_memory_utilization=plan.gpu_memory_utilization,
            dtype=plan.dtype,
        ),
        adapters=adapters,
        distributed=DistributedSettings(
            workspace=workspace,
            namespace=namespace,
            node_count=node_count if node_count is not None else plan.pipeline_parallel_size,
        ),
        server=server or ServerSettings(),
        vllm=dict(overrides or {}),
    )
