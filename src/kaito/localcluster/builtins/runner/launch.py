"""How a container becomes a local process: argv (Docker's ENTRYPOINT/CMD rules), env, working dir, mounts.

Paths: a token of the pod's own command/args/env that is a mountPath or lies under one (also `--flag=PATH`)
is rewritten to the volume's host directory; the full mapping is in `KAITO_LOCAL_MOUNTS` (JSON
{mountPath: hostPath}). Ports: `KAITO_LOCAL_PORT_<containerPort>` holds the loopback port each declared
container port is served on, and `PORT` the first port of this container; both usable as `$(VAR)`.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kaito.localcluster.builtins.client import KubeClient
from kaito.localcluster.builtins.config import ImageRuntime
from kaito.localcluster.builtins.names import POD_IP
from kaito.localcluster.builtins.objects import Container, Pod
from kaito.localcluster.builtins.runner.environment import ConfigError, SourceReader, container_env, expand
from kaito.localcluster.builtins.runner.termination import fresh_message_file
from kaito.localcluster.builtins.runner.volumes import PodLayout, mounts_for, rewrite_paths


@dataclass(frozen=True)
class LaunchPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    mounts: dict[str, str]
    runtime: ImageRuntime
    termination_file: Path

    def pod_argv(self, parts: list[str]) -> list[str]:
        """An argv written in the pod spec (e.g. an exec probe), translated like the container's own."""
        argv = [rewrite_paths(expand(part, self.env), self.mounts) for part in parts]
        if argv:
            argv[0] = self.runtime.executables.get(argv[0], argv[0])
        return argv


async def plan_launch(
    client: KubeClient,
    pod: Pod,
    container: Container,
    runtime: ImageRuntime,
    layout: PodLayout,
    volume_paths: dict[str, Path],
    host_ports: dict[int, int],
) -> LaunchPlan:
    """Resolve everything the process needs; ConfigError when a referenced object or key is missing."""
    mounts = mounts_for([(m.name, m.mount_path, m.sub_path) for m in container.volume_mounts], volume_paths)
    # The termination message file is mounted like a volume, so `/dev/termination-log` in args points at it.
    termination_file = layout.container_dir(container.name) / "termination-log"
    await asyncio.to_thread(fresh_message_file, termination_file)
    mounts[container.termination_message_path] = os.fspath(termination_file)
    base = dict(os.environ) | runtime.env
    base |= {
        "HOSTNAME": pod.spec.hostname or pod.metadata.name,
        "KAITO_LOCAL_MOUNTS": json.dumps(mounts),
        "KAITO_LOCAL_POD_DIR": os.fspath(layout.root),
    }
    base |= {f"KAITO_LOCAL_PORT_{port}": str(host) for port, host in host_ports.items()}
    if container.ports and container.ports[0].container_port in host_ports:
        base["PORT"] = str(host_ports[container.ports[0].container_port])
    reader = SourceReader(client, pod.metadata.namespace)
    env = await container_env(pod, container, reader, base, POD_IP)
    # Only what the pod spec says is rewritten: the host's own paths may overlap a mountPath.
    env = {
        key: value if base.get(key) == value else rewrite_paths(value, mounts) for key, value in env.items()
    }
    entry = [rewrite_paths(expand(part, env), mounts) for part in container.command]
    entry = entry or [expand(part, env) for part in runtime.entrypoint]
    if container.args:
        rest = [rewrite_paths(expand(part, env), mounts) for part in container.args]
    else:
        rest = [] if container.command else [expand(part, env) for part in runtime.cmd]
    argv = [*entry, *rest]
    if not argv:
        raise ConfigError(f"no command specified for container {container.name}")
    argv[0] = runtime.executables.get(argv[0], argv[0])
    workdir = rewrite_paths(container.working_dir, mounts) if container.working_dir else ""
    cwd = Path(workdir) if workdir else layout.container_dir(container.name)
    return LaunchPlan(
        argv=argv, env=env, cwd=cwd, mounts=mounts, runtime=runtime, termination_file=termination_file
    )
