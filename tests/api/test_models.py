"""Model behaviour beyond Workspace validation: NodeClaim, metadata, conditions, times and quantities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from kaito.api import (
    Condition,
    ConditionStatus,
    LabelSelector,
    ObjectMeta,
    PresetSpec,
    ResourceSpec,
    TuningSpec,
    Workspace,
    WorkspaceStatus,
    find_condition,
    set_condition,
)
from kaito.api import constants as c
from kaito.api.errors import field_errors
from kaito.api.nodeclaim import NodeClaim, NodeClaimSpec, NodeSelectorRequirement, Taint

from .crdtools import cel_failures, nodeclaim_schema, schema_errors

NODECLAIM = {
    "apiVersion": "karpenter.sh/v1",
    "kind": "NodeClaim",
    "metadata": {
        "name": "ws0a1b2c3d4",
        "labels": {"kaito.sh/workspace": "ws", "kaito.sh/workspacenamespace": "default", "apps": "phi-3"},
        "creationTimestamp": "2024-05-01T10:00:00Z",
    },
    "spec": {
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC6s_v3"]},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"], "minValues": 1},
        ],
        "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
        "resources": {"requests": {"storage": "120Gi"}},
        "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"},
    },
    "status": {
        "providerID": "azure:///subscriptions/x/vm/ws0a1b2c3d4",
        "nodeName": "aks-ws0a1b2c3d4-123-vmss000000",
        "imageID": "img-1",
        "capacity": {"nvidia.com/gpu": "1", "memory": "112Gi"},
        "allocatable": {"nvidia.com/gpu": "1"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2024-05-01T10:05:00Z",
            }
        ],
    },
}


def test_nodeclaim_round_trips_and_passes_its_crd() -> None:
    claim = NodeClaim.from_kube(NODECLAIM)
    assert claim.to_kube() == NODECLAIM
    assert claim.status is not None
    assert claim.status.provider_id == "azure:///subscriptions/x/vm/ws0a1b2c3d4"
    assert claim.status.image_id == "img-1"
    ready = claim.status.condition(c.NODECLAIM_CONDITION_READY)
    assert ready is not None
    assert ready.is_true
    assert schema_errors(nodeclaim_schema(), NODECLAIM) == []
    assert cel_failures(nodeclaim_schema(), NODECLAIM, NODECLAIM) == []


def test_nodeclaim_built_in_python_is_kube_shaped() -> None:
    claim = NodeClaim(
        metadata=ObjectMeta(name="ws1", labels={c.LABEL_WORKSPACE: "ws"}),
        spec=NodeClaimSpec(
            requirements=[
                NodeSelectorRequirement(key=c.LABEL_INSTANCE_TYPE, operator="In", values=["g5.xlarge"])
            ],
            taints=[Taint(key=c.GPU_TAINT_KEY, value=c.GPU_TAINT_VALUE, effect=c.GPU_TAINT_EFFECT)],
        ),
    )
    claim.spec.resources.requests["storage"] = "100Gi"
    assert claim.to_kube() == {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "ws1", "labels": {"kaito.sh/workspace": "ws"}},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.xlarge"]}
            ],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": "100Gi"}},
        },
    }


def test_quantities_accept_numbers_and_write_strings() -> None:
    claim = NodeClaim.from_kube({"spec": {"resources": {"requests": {"storage": 100, "cpu": 0.5}}}})
    assert claim.spec.resources.requests == {"storage": "100", "cpu": "0.5"}
    with pytest.raises(ValueError, match="quantity"):
        NodeClaim.from_kube({"spec": {"resources": {"requests": {"storage": True}}}})


def test_times_are_rfc3339_utc_seconds() -> None:
    cond = Condition(
        type="Ready",
        status=ConditionStatus.TRUE,
        last_transition_time=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
    )
    assert cond.to_kube()["lastTransitionTime"] == "2024-05-01T10:00:00Z"
    naive = Condition.from_kube({"type": "A", "status": "False", "lastTransitionTime": "2024-05-01T10:00:00"})
    assert naive.to_kube()["lastTransitionTime"] == "2024-05-01T10:00:00Z"


def test_set_condition_keeps_transition_time_unless_status_changes() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=5)
    conditions: list[Condition] = []
    ready = Condition(
        type="ResourceReady", status=ConditionStatus.FALSE, reason="Provisioning", message="wait"
    )
    assert set_condition(conditions, ready, now=t0)
    assert conditions[0].last_transition_time == t0
    assert not set_condition(conditions, ready, now=t1)
    assert set_condition(conditions, ready.model_copy(update={"message": "still waiting"}), now=t1)
    assert conditions[0].last_transition_time == t0
    assert set_condition(conditions, ready.model_copy(update={"status": ConditionStatus.TRUE}), now=t1)
    found = find_condition(conditions, "ResourceReady")
    assert found is not None
    assert found.last_transition_time == t1
    assert found.message == "wait"
    assert len(conditions) == 1


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"apps": "phi-3"}}, {"apps": "phi-3", "x": "y"}, True),
        ({"matchLabels": {"apps": "phi-3"}}, {"apps": "other"}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a", "b"]}]}, {"gpu": "b"}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["a"]}]}, {"gpu": "a"}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, {}, True),
        ({}, {"anything": "goes"}, True),
    ],
)
def test_label_selector_matches(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.model_validate(selector).matches(labels) is expected


def test_workspace_built_in_python_defaults_to_v1beta1() -> None:
    ws = Workspace(
        metadata=ObjectMeta(name="t", namespace="ns"),
        resource=ResourceSpec(label_selector=LabelSelector(match_labels={"a": "b"})),
        tuning=TuningSpec.model_validate(
            {
                "preset": PresetSpec(name="phi-3-mini-4k-instruct"),
                "input": {"image": "reg/data:1"},
                "output": {"volumeSource": {"emptyDir": {}}},
            }
        ),
    )
    kube = ws.to_kube()
    assert kube["apiVersion"] == c.API_VERSION_V1BETA1
    assert kube["kind"] == "Workspace"
    assert kube["tuning"]["method"] == "lora"
    assert ws.is_tuning
    assert not ws.is_inference
    assert ws.with_api_version(c.API_VERSION_V1ALPHA1).to_kube() == {
        **kube,
        "apiVersion": "kaito.sh/v1alpha1",
    }
    with pytest.raises(ValueError, match="apiVersion"):
        ws.with_api_version("kaito.sh/v2")


def test_status_is_omitted_until_set_and_round_trips() -> None:
    raw = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "finalizers": [c.FINALIZER], "generation": 3},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}, "count": 1},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    ws = Workspace.from_kube(raw)
    assert "status" not in ws.to_kube()
    ws.status = WorkspaceStatus(target_node_count=1)
    set_condition(
        ws.status.conditions,
        Condition(
            type=c.CONDITION_WORKSPACE_READY,
            status=ConditionStatus.TRUE,
            reason="Ready",
            observed_generation=3,
        ),
        now=datetime(2024, 1, 1, tzinfo=UTC),
    )
    dumped = ws.to_kube()
    assert dumped["status"] == {
        "conditions": [
            {
                "type": "WorkspaceReady",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "observedGeneration": 3,
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
        "targetNodeCount": 1,
    }
    assert Workspace.from_kube(dumped) == ws
    ready = ws.status.condition(c.CONDITION_WORKSPACE_READY)
    assert ready is not None
    assert ready.is_true


def _phi3(annotations: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "w", "annotations": annotations},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }


def test_runtime_and_load_balancer_annotations() -> None:
    plain = Workspace.from_kube(_phi3({}))
    assert plain.runtime == "vllm"
    assert not plain.load_balancer_enabled
    annotated = Workspace.from_kube(
        _phi3({c.ANNOTATION_RUNTIME: "transformers", c.ANNOTATION_ENABLE_LB: "True"})
    )
    assert annotated.runtime == "transformers"
    assert annotated.load_balancer_enabled


def test_unknown_runtime_is_rejected_naming_the_annotation() -> None:
    with pytest.raises(ValidationError) as caught:
        Workspace.from_kube(_phi3({c.ANNOTATION_RUNTIME: "tgi"}))
    [error] = field_errors(caught.value)
    assert error.path == "metadata"
    assert "kaito.sh/runtime" in error.message
    assert "'tgi'" in error.message


def test_fields_unknown_to_kaito_survive_on_foreign_and_meta_objects() -> None:
    raw = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "n", "futureMetaField": {"x": 1}},
        "spec": {
            "requirements": [],
            "expireAfter": "720h",
            "terminationGracePeriod": "1h",
            "newSpecField": 1,
        },
        "status": {"lastPodEventTime": "2024-01-01T00:00:00Z", "newStatusField": "x"},
    }
    dumped = NodeClaim.from_kube(raw).to_kube()
    assert dumped["metadata"] == raw["metadata"]
    assert dumped["spec"]["newSpecField"] == 1
    assert dumped["spec"]["expireAfter"] == "720h"
    assert dumped["status"] == raw["status"]


@pytest.mark.parametrize(
    ("path", "value"),
    [(("resource", "count"), "2"), (("resource", "count"), True), (("resource", "instanceType"), 5)],
)
def test_scalar_types_are_strict_like_the_api_server(path: tuple[str, str], value: object) -> None:
    raw = _phi3({})
    section = raw[path[0]]
    assert isinstance(section, dict)
    section[path[1]] = value
    with pytest.raises(ValidationError) as caught:
        Workspace.from_kube(raw)
    assert [e.path for e in field_errors(caught.value)] == [".".join(path)]
