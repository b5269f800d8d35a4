"""Checks that read the cluster: referenced ConfigMaps exist and parse; bring-your-own nodes' GPUs."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api import LabelSelector
from kaito.validation import selector_string, validate_workspace_async
from kaito.validation.issues import FIELD_INVALID, FIELD_NOT_FOUND

from .manifests import changed, inference, removed, tuning

V100_LABELS = {
    "apps": "phi-3",
    "nvidia.com/gpu.count": "1",
    "nvidia.com/gpu.product": "Tesla-V100-PCIE-16GB",
    "nvidia.com/gpu.memory": "16384",
}


class InMemoryCluster:
    """Lookups answered from dicts, with label selectors evaluated by the api's LabelSelector."""

    def __init__(self, configmaps: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.configmaps = configmaps or {}
        self.nodes: list[dict[str, Any]] = []
        self.calls: list[str] = []

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(f"configmap {namespace}/{name}")
        return self.configmaps.get((namespace, name))

    async def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        self.calls.append(f"nodes {selector}")
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        return [n for n in self.nodes if all(n["metadata"]["labels"].get(k) == v for k, v in wanted.items())]


def _configmap(key: str, text: str) -> dict[str, Any]:
    return {"metadata": {"name": "params"}, "data": {key: text}}


INFERENCE_KEY = "inference_config.yaml"
TUNING_KEY = "training_config.yaml"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (None, "does not exist in namespace 'team'"),
        (_configmap("other.yaml", "vllm: {}"), "has no data key `inference_config.yaml` (found: other.yaml)"),
        (_configmap(INFERENCE_KEY, "vllm: [unclosed"), "is not valid YAML at line 1"),
        (_configmap(INFERENCE_KEY, "- a\n- b\n"), "must be a YAML mapping"),
        (_configmap(INFERENCE_KEY, "vllm: 3\n"), "field `vllm`"),
        (_configmap(INFERENCE_KEY, "engine: {}\n"), "unknown top-level key `engine`"),
    ],
    ids=["missing", "wrong-key", "bad-yaml", "not-mapping", "vllm-not-mapping", "unknown-key"],
)
async def test_inference_configmap_problems(data: dict[str, Any] | None, words: str) -> None:
    cluster = InMemoryCluster({("team", "params"): data} if data is not None else {})
    obj = changed(inference(), "inference.config", "params")
    issues = await validate_workspace_async(obj, lookups=cluster, namespace="team")
    assert [i.field for i in issues] == ["inference.config"], issues
    assert words in issues[0].message
    assert issues[0].reason == (FIELD_NOT_FOUND if data is None else FIELD_INVALID)


async def test_inference_configmap_valid() -> None:
    text = "vllm:\n  max-model-len: 2048\n  enable-prefix-caching: true\n"
    cluster = InMemoryCluster({("team", "params"): _configmap(INFERENCE_KEY, text)})
    obj = changed(inference(), "inference.config", "params")
    assert await validate_workspace_async(obj, lookups=cluster, namespace="team") == []


async def test_tuning_configmap_sections() -> None:
    good = "training_config:\n  LoraConfig: {r: 8}\n  TrainingArguments: {num_train_epochs: 1}\n"
    bad = "training_config:\n  Optimizer: {lr: 1}\n"
    obj = changed(tuning(), "tuning.config", "params")
    cluster = InMemoryCluster({("team", "params"): _configmap(TUNING_KEY, good)})
    assert await validate_workspace_async(obj, lookups=cluster, namespace="team") == []
    cluster.configmaps[("team", "params")] = _configmap(TUNING_KEY, bad)
    issues = await validate_workspace_async(obj, lookups=cluster, namespace="team")
    assert [i.field for i in issues] == ["tuning.config"]
    assert "unknown training_config section(s) Optimizer; known sections: ModelConfig" in issues[0].message


async def test_namespace_defaults_to_the_object() -> None:
    cluster = InMemoryCluster()
    obj = changed(changed(inference(), "inference.config", "params"), "metadata.namespace", "ns1")
    await validate_workspace_async(obj, lookups=cluster)
    assert "configmap ns1/params" in cluster.calls


async def test_unchanged_config_is_not_rechecked_on_update() -> None:
    """A ConfigMap deleted after creation must not block unrelated updates (e.g. finalizer removal)."""
    cluster = InMemoryCluster()
    obj = changed(inference(), "inference.config", "params")
    assert await validate_workspace_async(obj, obj, lookups=cluster, namespace="team") == []
    other = changed(obj, "inference.config", "params2")
    issues = await validate_workspace_async(other, obj, lookups=cluster, namespace="team")
    assert [i.reason for i in issues] == [FIELD_NOT_FOUND]


async def test_byo_nodes_are_sized_from_their_gpu_labels() -> None:
    cluster = InMemoryCluster()
    cluster.nodes.append({"metadata": {"name": "gpu-1", "labels": V100_LABELS}})
    small = removed(inference(), "resource.instanceType")
    assert await validate_workspace_async(small, lookups=cluster) == []
    big = changed(small, "inference.preset.name", "phi-4")
    issues = await validate_workspace_async(big, lookups=cluster)
    errors = [i for i in issues if i.is_error]
    assert [(i.field, i.reason) for i in errors] == [("resource.labelSelector", "InsufficientGPUMemory")]
    assert "nodes with Tesla-V100-PCIE-16GB" in errors[0].message


async def test_byo_without_matching_nodes_is_a_warning() -> None:
    cluster = InMemoryCluster()
    issues = await validate_workspace_async(removed(inference(), "resource.instanceType"), lookups=cluster)
    assert [(i.field, i.severity) for i in issues] == [("resource.labelSelector", "warning")]
    assert "no node matches" in issues[0].message


async def test_byo_node_without_gpu_labels_is_a_warning() -> None:
    cluster = InMemoryCluster()
    cluster.nodes.append({"metadata": {"name": "cpu-1", "labels": {"apps": "phi-3"}}})
    issues = await validate_workspace_async(removed(inference(), "resource.instanceType"), lookups=cluster)
    assert [i.severity for i in issues] == ["warning"]
    assert "nvidia.com/gpu.count is missing" in issues[0].message


def test_selector_string() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["x", "y"]},
                {"key": "tier", "operator": "NotIn", "values": ["z"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "spot", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector_string(selector) == "a=1,b=2,zone in (x,y),tier notin (z),gpu,!spot"
