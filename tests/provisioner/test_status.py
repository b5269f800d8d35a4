"""NodeClaim status edits (conditions, registration from a Node) and the cloud-operation tracker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaito.api.meta import ConditionStatus
from kaito.api.nodeclaim import NodeClaimStatus
from kaito.provisioner import registration
from kaito.provisioner.cloud import CloudError, Instance, InstanceState
from kaito.provisioner.operations import OperationTracker

from .waiting import wait_until


def node(ready: bool = True, gpus: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": "aks-ws1-0", "labels": {"agentpool": "ws1"}},
        "spec": {"providerID": "azure:///subscriptions/s/vm/0"},
        "status": {
            "capacity": {"cpu": "6", "nvidia.com/gpu": gpus},
            "allocatable": {"cpu": "5800m", "nvidia.com/gpu": gpus},
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "message": "kubelet down"}
            ],
        },
    }


def condition(status: NodeClaimStatus, type_: str) -> tuple[ConditionStatus, str]:
    found = status.condition(type_)
    assert found is not None
    return found.status, found.reason


def test_launch_failure_uses_the_azure_code_as_reason_and_ready_follows() -> None:
    status = NodeClaimStatus()
    registration.mark_launching(status, "creating", 1)
    assert condition(status, "Launched") == (ConditionStatus.UNKNOWN, "Launching")
    assert condition(status, "Ready") == (ConditionStatus.UNKNOWN, "Launching")
    error = CloudError("QuotaExceeded", "no cores left. Fix: request a quota increase")
    registration.mark_launch_failed(status, error, "azure", 1, retry_in=10.0)
    launched = status.condition("Launched")
    assert launched is not None
    assert launched.reason == "QuotaExceeded"
    assert (
        launched.message
        == "azure error QuotaExceeded: no cores left. Fix: request a quota increase (next attempt in 10s)"
    )
    assert launched.observed_generation == 1
    assert condition(status, "Ready") == (ConditionStatus.FALSE, "QuotaExceeded")
    registration.mark_launch_failed(status, CloudError("Bad.Code-1", "x", retryable=False), "azure", 1, None)
    assert condition(status, "Launched") == (ConditionStatus.FALSE, "Bad_Code_1")
    failed = status.condition("Launched")
    assert failed is not None
    assert "not retried" in failed.message


def test_registration_copies_the_node_and_derives_conditions() -> None:
    status = NodeClaimStatus()
    instance = Instance(name="ws1", instance_type="Standard_NC6s_v3", state=InstanceState.SUCCEEDED)
    registration.mark_launched(status, instance, 2)
    registration.mark_waiting_for_node(status, "ws1", 2)
    assert condition(status, "Ready") == (ConditionStatus.UNKNOWN, "AwaitingNode")
    registration.mark_registered(status, node(ready=False), 2)
    assert status.node_name == "aks-ws1-0"
    assert status.provider_id == "azure:///subscriptions/s/vm/0"
    assert condition(status, "Registered") == (ConditionStatus.TRUE, "Registered")
    assert condition(status, "Initialized") == (ConditionStatus.FALSE, "NodeNotReady")
    assert condition(status, "Ready") == (ConditionStatus.FALSE, "NodeNotReady")
    registration.mark_registered(status, node(ready=True, gpus="0"), 2)
    assert condition(status, "Initialized") == (ConditionStatus.FALSE, "GPUNotAdvertised")
    registration.mark_registered(status, node(ready=True), 2)
    assert status.allocatable == {"cpu": "5800m", "nvidia.com/gpu": "1"}
    assert condition(status, "Initialized") == (ConditionStatus.TRUE, "Initialized")
    assert condition(status, "Ready") == (ConditionStatus.TRUE, "Ready")
    before = status.to_kube()
    registration.mark_registered(status, node(ready=True), 2)
    assert status.to_kube() == before, "an unchanged node must not change the status (no write)"


async def test_tracker_reports_outcomes_and_wakes_the_key() -> None:
    woken: list[str] = []
    tracker = OperationTracker(woken.append, retry_base_s=1.0, retry_max_s=5.0)
    release = asyncio.Event()

    async def create() -> Instance:
        await release.wait()
        return Instance(name="ws1", instance_type="t", state=InstanceState.SUCCEEDED)

    tracker.start("ws1", "create", create())
    assert "ws1" in tracker
    assert tracker.take("ws1") is None
    with pytest.raises(RuntimeError):
        tracker.start("ws1", "delete", create())
    release.set()
    await wait_until(lambda: bool(woken))
    assert woken == ["ws1"]
    finished = tracker.take("ws1")
    assert finished is not None
    instance, error = finished.outcome()
    assert error is None
    assert instance is not None
    assert instance.name == "ws1"

    async def fail() -> None:
        raise CloudError("QuotaExceeded", "no quota")

    tracker.start("ws2", "create", fail())
    await wait_until(lambda: "ws2" in woken)
    failed = tracker.take("ws2")
    assert failed is not None
    assert failed.outcome()[1] is not None
    assert [tracker.record_failure("ws2") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert 4.0 < tracker.retry_in("ws2") <= 5.0
    tracker.record_success("ws2")
    assert tracker.retry_in("ws2") == 0.0
    assert tracker.failures("ws2") == 0


async def test_tracker_cancel_and_close_stop_waiting_without_waking() -> None:
    woken: list[str] = []
    tracker = OperationTracker(woken.append)
    tracker.start("ws1", "create", asyncio.sleep(30, result=None))
    tracker.start("ws2", "delete", asyncio.sleep(30, result=None))
    await tracker.cancel("ws1")
    assert "ws1" not in tracker
    await tracker.close()
    assert "ws2" not in tracker
    await asyncio.sleep(0)
    assert woken == []
