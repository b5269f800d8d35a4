"""Planning whole Workspaces: inference, tuning, bring-your-own nodes, and field-named refusals."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api import Workspace
from kaito.presets import GpuFacts, PlanError, plan_workspace


def workspace(**overrides: Any) -> Workspace:
    raw: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "workspace-phi-3-mini"},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": "phi-3"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    raw.update(overrides)
    return Workspace.model_validate(raw)


def test_walkthrough_workspace() -> None:
    result = plan_workspace(workspace())
    assert result.sku == "Standard_NC6s_v3"
    assert (result.nodes, result.tensor_parallel_size, result.dtype) == (1, 1, "float16")


def test_tuning_workspace_plans_the_base_model() -> None:
    tuning = {
        "preset": {"name": "phi-3-mini-4k-instruct"},
        "method": "qlora",
        "input": {"urls": ["https://example.com/train.parquet"]},
        "output": {"image": "registry.example.com/adapter:0.0.1", "imagePushSecret": "push"},
    }
    result = plan_workspace(workspace(inference=None, tuning=tuning))
    assert result.mode == "tuning"
    assert result.tuning_method == "qlora"


def test_count_is_the_node_count() -> None:
    resource = {"instanceType": "Standard_NC6s_v3", "count": 3, "labelSelector": {"matchLabels": {"a": "b"}}}
    medium = {"preset": {"name": "phi-3-medium-4k-instruct"}}
    result = plan_workspace(workspace(resource=resource, inference=medium))
    assert result.nodes == 3
    assert result.pipeline_parallel_size == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"inference": {"preset": {"name": "phi-9"}}}, "inference.preset.name"),
        (
            {"resource": {"instanceType": "Standard_NC6s_v9", "labelSelector": {"matchLabels": {"a": "b"}}}},
            "resource.instanceType",
        ),
        ({"resource": {"labelSelector": {"matchLabels": {"a": "b"}}}}, "resource.instanceType"),
        ({"inference": {"template": {"spec": {"containers": []}}}}, "inference.template"),
        ({"inference": {"preset": {"name": "phi-3-medium-4k-instruct"}}}, "resource.instanceType"),
    ],
)
def test_refusals_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan_workspace(workspace(**overrides))
    assert caught.value.field == field


def test_bring_your_own_nodes_use_their_labels() -> None:
    byo = workspace(resource={"labelSelector": {"matchLabels": {"a": "b"}}})
    facts = GpuFacts.from_node_labels(
        {"nvidia.com/gpu.count": "1", "nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.memory": "23034"}
    )
    result = plan_workspace(byo, node_gpus=facts)
    assert result.sku is None
    assert result.dtype == "bfloat16"
