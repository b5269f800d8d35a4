"""Model and GPU SKU catalogs, and the sizing planner that matches one to the other."""

from kaito.presets.budget import MIN_CONTEXT_TOKENS, min_context
from kaito.presets.catalog import (
    ModelArchitecture,
    ModelPreset,
    UnknownPresetError,
    VllmHints,
    get_preset,
    list_presets,
)
from kaito.presets.plan_types import MemoryBudget, Plan, PlanError, Refusal, Shortfall
from kaito.presets.planner import MAX_NODES, plan, suggest_skus
from kaito.presets.skus import (
    GpuFacts,
    GpuSku,
    GpuVariant,
    InvalidNodeLabelsError,
    UnknownSkuError,
    get_sku,
    list_skus,
)
from kaito.presets.tuning_planner import plan_tuning, suggest_tuning_skus
from kaito.presets.workspace_plan import plan_workspace, workspace_gpus

__all__ = [
    "MAX_NODES",
    "MIN_CONTEXT_TOKENS",
    "GpuFacts",
    "GpuSku",
    "GpuVariant",
    "InvalidNodeLabelsError",
    "MemoryBudget",
    "ModelArchitecture",
    "ModelPreset",
    "Plan",
    "PlanError",
    "Refusal",
    "Shortfall",
    "UnknownPresetError",
    "UnknownSkuError",
    "VllmHints",
    "get_preset",
    "get_sku",
    "list_presets",
    "list_skus",
    "min_context",
    "plan",
    "plan_tuning",
    "plan_workspace",
    "suggest_skus",
    "suggest_tuning_skus",
    "workspace_gpus",
]
