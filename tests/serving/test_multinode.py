"""Multi-node launch logic: pod roles from StatefulSet names, Ray commands, waiting for the group."""

from __future__ import annotations

import pytest

from kaito.api.runtime import DistributedSettings
from kaito.serving.multinode import (
    GroupError,
    head_host,
    node_role,
    pod_ordinal,
    ray_start_command,
    wait_for_group,
    worker_health_command,
)

GROUP = DistributedSettings(workspace="ws-llama", namespace="team-a", node_count=3)


def test_ordinals_come_from_statefulset_names() -> None:
    assert pod_ordinal("ws-llama-0") == 0
    assert pod_ordinal("ws-llama-12") == 12
    with pytest.raises(GroupError, match="ordinal"):
        pod_ordinal("ws-llama")


def test_head_starts_ray_head_and_workers_join_it() -> None:
    head = node_role(GROUP, "ws-llama-0")
    worker = node_role(GROUP, "ws-llama-2")
    assert head.is_head
    assert not worker.is_head
    assert head_host(GROUP) == "ws-llama-0.ws-llama-headless.team-a.svc.cluster.local"
    assert ray_start_command(head, 8) == [
        "ray", "start", "--num-gpus=8", "--disable-usage-stats", "--head", "--port=6379",
    ]  # fmt: skip
    assert ray_start_command(worker, 8) == [
        "ray", "start", "--num-gpus=8", "--disable-usage-stats",
        "--address=ws-llama-0.ws-llama-headless.team-a.svc.cluster.local:6379", "--block",
    ]  # fmt: skip
    assert worker_health_command(worker)[-1].endswith("headless.team-a.svc.cluster.local:6379")


def test_single_node_needs_no_group() -> None:
    role = node_role(DistributedSettings(), "anything")
    assert role.is_head
    assert role.node_count == 1


def test_bad_group_layouts_are_refused() -> None:
    with pytest.raises(GroupError, match="ordinal 3"):
        node_role(GROUP, "ws-llama-3")
    with pytest.raises(GroupError, match="workspace"):
        node_role(DistributedSettings(node_count=2), "x-0")


async def test_wait_for_group_returns_when_everyone_joined() -> None:
    counts = iter([0, 1, 2, 3])

    async def count() -> int:
        return next(counts)

    assert await wait_for_group(3, count, within=30, interval=0.01) == 3


async def test_wait_for_group_names_the_shortfall() -> None:
    async def count() -> int:
        return 1

    with pytest.raises(GroupError, match="only 1 of 3 nodes"):
        await wait_for_group(3, count, within=0.05, interval=0.01)
