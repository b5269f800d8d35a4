"""Plan a whole Workspace: pick its preset and GPUs, then size inference or tuning, errors named by field."""

from __future__ import annotations

from kaito.api import Workspace
from kaito.presets.catalog import TuningMethod
from kaito.presets.plan_types import Plan, PlanError
from kaito.presets.planner import DEFAULT_GPU_MEMORY_UTILIZATION, plan, resolve_preset
from kaito.presets.skus import GpuFacts, GpuSku, UnknownSkuError, get_sku
from kaito.presets.tuning_planner import plan_tuning


def workspace_gpus(workspace: Workspace, node_gpus: GpuFacts | None = None) -> GpuSku | GpuFacts:
    """The GPUs a Workspace runs on: its instance type, or (bring your own) the facts of its nodes."""
    instance_type = workspace.resource.instance_type
    if instance_type:
        try:
            return get_sku(instance_type)
        except UnknownSkuError as err:
            raise PlanError(err.message, field="resource.instanceType", reason="InvalidRequest") from None
    if node_gpus is None:
        raise PlanError(
            "no instanceType is set, so kaito uses existing nodes matched by resource.labelSelector; their "
            "GPUs are only known from their nvidia.com/gpu.* labels (set instanceType to plan without nodes)",
            field="resource.instanceType",
            reason="InvalidRequest",
        )
    return node_gpus


def plan_workspace(
    workspace: Workspace,
    *,
    node_gpus: GpuFacts | None = None,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    allow_more_nodes: bool = False,
) -> Plan:
    """Size the Workspace's inference or tuning on its GPUs, or raise PlanError naming the field to fix."""
    count = workspace.resource.count
    if workspace.tuning is not None:
        preset = resolve_preset(workspace.tuning.preset.name, "tuning.preset.name")
        gpus = workspace_gpus(workspace, node_gpus)
        method: TuningMethod = "qlora" if workspace.tuning.method.value == "qlora" else "lora"
        return plan_tuning(preset, gpus, method, count, gpu_memory_utilization=gpu_memory_utilization)
    inference = workspace.inference
    if inference is None:
        raise PlanError("set one of `inference` or `tuning`", field="inference", reason="InvalidRequest")
    if inference.preset is None:
        raise PlanError(
            "a custom pod template is not sized by kaito: its containers ask for GPUs themselves",
            field="inference.template",
            reason="InvalidRequest",
        )
    preset = resolve_preset(inference.preset.name, "inference.preset.name")
    gpus = workspace_gpus(workspace, node_gpus)
    return plan(
        preset,
        gpus,
        count,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        allow_more_nodes=allow_more_nodes,
    )
