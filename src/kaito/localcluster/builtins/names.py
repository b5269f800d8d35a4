"""Labels and annotations the built-ins put on objects: the contract other parts (networking, logs) read."""

from __future__ import annotations

from typing import Final

# Nodes with this label ("true") are kept Ready by the node simulator and served by the local pod runner.
MANAGED_LABEL: Final = "localcluster.kaito.sh/managed"
# Nodes the cluster registered from its configuration (a restart removes those no longer configured).
CONFIGURED_ANNOTATION: Final = "localcluster.kaito.sh/configured"
ANNOTATION_PREFIX: Final = "localcluster.kaito.sh/"
# Pod annotations written by the runner before any container starts.
LOG_DIR_ANNOTATION: Final = f"{ANNOTATION_PREFIX}log-dir"  # <dir>/<container>/<restartCount>.log
POD_DIR_ANNOTATION: Final = f"{ANNOTATION_PREFIX}pod-dir"  # volumes and working directories
POD_IP: Final = "127.0.0.1"  # every runner pod reports this podIP; its ports are remapped (below)


def port_annotation(container_port: int) -> str:
    """The pod annotation holding the 127.0.0.1 port a declared container port is served on."""
    return f"{ANNOTATION_PREFIX}port-{container_port}"
