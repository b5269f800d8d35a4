"""Multi-node serving: pod 0 runs the Ray head and the API server, the other pods join it as Ray workers.

The pods are a StatefulSet `<workspace>` behind the headless Service `<workspace>-headless`, so pod N is
`<workspace>-N` and the head is reachable at `<workspace>-0.<workspace>-headless.<namespace>.svc`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kaito.api.runtime import DistributedSettings

_ORDINAL_RE = re.compile(r"-(\d+)$")


class GroupError(RuntimeError):
    """The node group cannot form (bad pod name, workers never joined)."""


@dataclass(frozen=True)
class NodeRole:
    """This pod's place in the group."""

    ordinal: int
    head_host: str
    ray_port: int
    node_count: int

    @property
    def is_head(self) -> bool:
        return self.ordinal == 0

    @property
    def head_address(self) -> str:
        return f"{self.head_host}:{self.ray_port}"


def pod_ordinal(pod_name: str) -> int:
    """StatefulSet pods are named `<set>-<ordinal>`."""
    match = _ORDINAL_RE.search(pod_name)
    if match is None:
        raise GroupError(f"pod name {pod_name!r} has no StatefulSet ordinal suffix (`<workspace>-N`)")
    return int(match.group(1))


def head_host(settings: DistributedSettings) -> str:
    ws = settings.workspace
    return f"{ws}-0.{ws}-headless.{settings.namespace}.svc.cluster.local"


def node_role(settings: DistributedSettings, pod_name: str | None = None) -> NodeRole:
    """This pod's role, from its name (POD_NAME from the downward API, else the hostname)."""
    if settings.node_count == 1:
        return NodeRole(ordinal=0, head_host="127.0.0.1", ray_port=settings.ray_port, node_count=1)
    if not settings.workspace:
        raise GroupError("distributed.workspace must name the Workspace when distributed.nodeCount > 1")
    name = pod_name or os.environ.get("POD_NAME") or socket.gethostname()
    ordinal = pod_ordinal(name)
    if ordinal >= settings.node_count:
        raise GroupError(f"pod {name!r} has ordinal {ordinal} but the group has {settings.node_count} nodes")
    return NodeRole(ordinal, head_host(settings), settings.ray_port, settings.node_count)


def ray_start_command(role: NodeRole, gpus: int) -> list[str]:
    """The `ray start` command for this pod: the head listens, workers join it and block."""
    command = ["ray", "start", f"--num-gpus={gpus}", "--disable-usage-stats"]
    if role.is_head:
        command += ["--head", f"--port={role.ray_port}"]
    else:
        command += [f"--address={role.head_address}", "--block"]
    return command


def worker_health_command(role: NodeRole) -> list[str]:
    """A worker is healthy while the head's Ray GCS answers (exec probe for pods 1..N-1)."""
    return ["ray", "health-check", f"--address={role.head_address}"]


def count_alive_ray_nodes() -> int:
    """Alive nodes in the Ray cluster this process is connected to (blocking; call in a thread)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="auto", ignore_reinit_error=True, logging_level="ERROR")
    return sum(1 for node in ray.nodes() if node.get("Alive"))


async def wait_for_group(
    expected: int,
    count: Callable[[], Awaitable[int]],
    within: float,
    interval: float = 2.0,
) -> int:
    """Wait until `expected` nodes have joined; raise GroupError naming how many did."""
    deadline = asyncio.get_running_loop().time() + within
    seen = 0
    while True:
        try:
            seen = await count()
        except Exception:  # the head's GCS may not answer yet
            seen = 0
        if seen >= expected:
            return seen
        if asyncio.get_running_loop().time() >= deadline:
            raise GroupError(
                f"only {seen} of {expected} nodes joined the Ray cluster within {within:.0f}s; "
                "check the worker pods' logs and that the headless Service resolves"
            )
        await asyncio.sleep(interval)
