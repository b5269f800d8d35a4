"""Settings of the built-in controllers, scheduler, node simulator and local pod runner."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kaito.localcluster.builtins.nodes import NodeSpec


class ImageRuntime(BaseModel):
    """How an image runs as a local process: its ENTRYPOINT/CMD, the way a container runtime reads them.

    The pod's `command` replaces `entrypoint` and its `args` replace `cmd`, as Docker does. `executables`
    rewrites argv[0] (e.g. `{"python": "/venv/bin/python"}`) so a pod's `command: [python, ...]` finds
    the right interpreter. Entries may use `$(VAR)` references to the container's environment, including
    `$(PORT)` and `$(KAITO_LOCAL_PORT_<containerPort>)`.
    """

    model_config = ConfigDict(extra="forbid")

    entrypoint: list[str] = Field(default_factory=list)
    cmd: list[str] = Field(default_factory=list)
    executables: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)


class BuiltinsConfig(BaseModel):
    """Everything the built-in behaviour of the local cluster can be tuned with."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(description="pod directories, volumes and container logs live under here")
    nodes: list[NodeSpec] = Field(default_factory=list, description="simulated nodes created at start")
    # Image reference (exact, `repo` without tag, or an fnmatch pattern) -> local process.
    image_commands: dict[str, ImageRuntime] = Field(default_factory=dict)
    unpullable_images: list[str] = Field(default_factory=list, description="fnmatch patterns")
    simulated_ready_delay_s: float = Field(default=1.0, ge=0)
    node_heartbeat_s: float = Field(default=10.0, gt=0)
    restart_backoff_base_s: float = Field(default=10.0, gt=0)
    restart_backoff_max_s: float = Field(default=300.0, gt=0)
    # Multiplies probe periods and initial delays (tests use < 1 to probe faster than once a second).
    probe_time_scale: float = Field(default=1.0, gt=0)
    scheduler_name: str = "default-scheduler"
    record_events: bool = Field(
        default=True, description="Events such as Scheduled or BackOff (off for benches)"
    )

    def runtime_for(self, image: str) -> ImageRuntime | None:
        """The local process an image maps to, or None when its pods are simulated."""
        if image in self.image_commands:
            return self.image_commands[image]
        repository = _strip_tag(image)
        if repository in self.image_commands:
            return self.image_commands[repository]
        for pattern, runtime in self.image_commands.items():
            if fnmatch.fnmatchcase(image, pattern):
                return runtime
        return None

    def is_unpullable(self, image: str) -> bool:
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in self.unpullable_images)


def _strip_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name
