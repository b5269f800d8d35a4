"""Unit tests of the pure scheduling logic: selectors, affinity, taints, readiness and resource fit."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.localcluster.builtins.nodes import NodeSpec, Taint, node_manifest
from kaito.localcluster.builtins.objects import Node, Pod, parse_node, parse_pod
from kaito.localcluster.builtins.scheduling import NodeUsage, pod_requests, schedule

GPU_TAINT = Taint(key="sku", value="gpu", effect="NoSchedule")


def node(name: str, gpus: int = 0, **extra: Any) -> Node:
    spec = NodeSpec(name=name, gpu_count=gpus, gpu_product="NVIDIA-A100", gpu_memory_mib=81920, **extra)
    return parse_node(node_manifest(spec))


def pod(gpus: int = 0, cpu: str | None = None, tolerate_gpu: bool = False, **spec: Any) -> Pod:
    resources: dict[str, Any] = {}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    if cpu:
        resources["requests"] = {"cpu": cpu}
    body: dict[str, Any] = {
        "containers": [{"name": "main", "image": "busybox", "resources": resources}],
        **spec,
    }
    if tolerate_gpu:
        body["tolerations"] = [{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    return parse_pod({"metadata": {"name": "p", "namespace": "default"}, "spec": body})


def test_gpu_pod_lands_on_tainted_gpu_node_only_with_toleration() -> None:
    nodes = [node("cpu-1"), node("gpu-1", gpus=1, taints=[GPU_TAINT])]
    assert schedule(pod(gpus=1, tolerate_gpu=True), nodes, {}).node_name == "gpu-1"
    decision = schedule(pod(gpus=1), nodes, {})
    assert decision.node_name is None
    assert decision.message == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {sku: gpu}."
    )


def test_message_counts_reasons_like_kube_scheduler() -> None:
    nodes = [node("gpu-a", gpus=1, taints=[GPU_TAINT]), node("cpu-a"), node("cpu-b")]
    decision = schedule(pod(gpus=1), nodes, {})
    assert decision.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {sku: gpu}, 2 Insufficient nvidia.com/gpu."
    )


def test_gpus_already_bound_are_counted() -> None:
    gpu = node("gpu-1", gpus=2, taints=[GPU_TAINT])
    bound = [pod(gpus=1, tolerate_gpu=True), pod(gpus=1, tolerate_gpu=True)]
    decision = schedule(pod(gpus=1, tolerate_gpu=True), [gpu], {"gpu-1": NodeUsage.of(bound)})
    assert decision.node_name is None
    assert decision.message == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert (
        schedule(pod(gpus=1, tolerate_gpu=True), [gpu], {"gpu-1": NodeUsage.of(bound[:1])}).node_name
        == "gpu-1"
    )


def test_cpu_requests_and_init_containers() -> None:
    small = node("small", cpu="2")
    busy = pod(cpu="1500m")
    assert schedule(pod(cpu="500m"), [small], {"small": NodeUsage.of([busy])}).node_name == "small"
    decision = schedule(pod(cpu="600m"), [small], {"small": NodeUsage.of([busy])})
    assert decision.message == "0/1 nodes are available: 1 Insufficient cpu."
    with_init = pod(
        cpu="100m", initContainers=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}]
    )
    assert pod_requests(with_init)["cpu"] == 3


def test_node_selector_and_required_affinity() -> None:
    labelled = node("a100", gpus=1, labels={"apps": "phi-3"})
    other = node("plain", gpus=1)
    selected = pod(gpus=1, nodeSelector={"apps": "phi-3"})
    assert schedule(selected, [other, labelled], {}).node_name == "a100"
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "node.kubernetes.io/instance-type",
                                "operator": "In",
                                "values": ["Standard_NC24ads_A100_v4"],
                            }
                        ]
                    },
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["plain"]}]},
                ]
            }
        }
    }
    assert schedule(pod(affinity=affinity), [labelled, other], {}).node_name == "plain"
    sized = node("sized", instance_type="Standard_NC24ads_A100_v4")
    assert schedule(pod(affinity=affinity), [labelled, sized], {}).node_name == "sized"
    decision = schedule(pod(affinity=affinity), [labelled], {})
    assert decision.message == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."


@pytest.mark.parametrize(
    ("operator", "values", "fits"),
    [
        ("Gt", ["4"], True),
        ("Gt", ["8"], False),
        ("Lt", ["9"], True),
        ("Exists", [], True),
        ("DoesNotExist", [], False),
        ("NotIn", ["8"], False),
        ("NotIn", ["4"], True),
    ],
)
def test_affinity_operators(operator: str, values: list[str], fits: bool) -> None:
    gpu_node = node("g", gpus=8)
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "nvidia.com/gpu.count", "operator": operator, "values": values}
                        ]
                    }
                ]
            }
        }
    }
    assert (schedule(pod(affinity=affinity), [gpu_node], {}).node_name == "g") is fits


def test_exists_toleration_and_noexecute() -> None:
    tainted = node("t", taints=[Taint(key="dedicated", value="x", effect="NoExecute")])
    assert schedule(pod(), [tainted], {}).node_name is None
    wildcard = pod(tolerations=[{"operator": "Exists"}])
    assert schedule(wildcard, [tainted], {}).node_name == "t"
    wrong_effect = pod(tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}])
    assert schedule(wrong_effect, [tainted], {}).node_name is None
    soft = node("soft", taints=[Taint(key="k", value="v", effect="PreferNoSchedule")])
    assert schedule(pod(), [soft], {}).node_name == "soft"


def test_not_ready_and_unschedulable_nodes_are_skipped() -> None:
    cordoned = node("cordoned")
    cordoned.spec.unschedulable = True
    down = node("down")
    for condition in down.status.conditions:
        if condition.type == "Ready":
            condition.status = "False"
    decision = schedule(pod(), [cordoned, down], {})
    assert (
        decision.message == "0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable."
    )
    assert schedule(pod(), [], {}).message == "no nodes available to schedule pods"


def test_spreads_to_the_emptier_node() -> None:
    a, b = node("a", cpu="4"), node("b", cpu="4")
    assert schedule(pod(cpu="1"), [a, b], {"a": NodeUsage.of([pod(cpu="2")])}).node_name == "b"


def test_node_facts_labels_and_capacity() -> None:
    spec = NodeSpec(
        name="n1",
        instance_type="Standard_NC6s_v3",
        gpu_count=1,
        gpu_product="Tesla V100",
        gpu_memory_mib=16384,
        provider_id="azure:///x",
    )
    manifest = node_manifest(spec)
    labels = manifest["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "Tesla-V100"
    assert labels["nvidia.com/gpu.count"] == "1"
    assert labels["nvidia.com/gpu.memory"] == "16384"
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["node.kubernetes.io/instance-type"] == "Standard_NC6s_v3"
    assert labels["kubernetes.io/os"] == "linux"
    assert manifest["spec"]["providerID"] == "azure:///x"
    assert manifest["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert parse_node(manifest).is_ready()


def test_spreads_pods_without_requests_by_count() -> None:
    a, b = node("a"), node("b")
    assert schedule(pod(), [a, b], {"b": NodeUsage.of([pod()])}).node_name == "a"
    assert schedule(pod(), [a, b], {"a": NodeUsage.of([pod()])}).node_name == "b"


def test_too_many_pods() -> None:
    full = node("full", pods=2)
    decision = schedule(pod(), [full], {"full": NodeUsage.of([pod(), pod()])})
    assert decision.message == "0/1 nodes are available: 1 Too many pods."
