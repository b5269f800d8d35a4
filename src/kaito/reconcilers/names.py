"""Names, labels and hashes of everything the reconciler creates for a Workspace, all derived, never stored.

Deriving every child's name from the Workspace's namespace/name is what makes a crash between "create"
and "record it in status" harmless: the next pass computes the same names and finds what exists.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from kaito.api.constants import (
    GROUP,
    KARPENTER_GROUP,
    KARPENTER_VERSION,
    LABEL_WORKSPACE,
    LABEL_WORKSPACE_NAMESPACE,
    NODECLAIM_KIND,
    NODECLAIM_PLURAL,
    STORAGE_VERSION,
    WORKSPACE_KIND,
    WORKSPACE_PLURAL,
)
from kaito.api.workspace import Workspace
from kaito.controllers.resource import Resource

WORKSPACES: Final = Resource(GROUP, STORAGE_VERSION, WORKSPACE_PLURAL, WORKSPACE_KIND)
NODECLAIMS: Final = Resource(
    KARPENTER_GROUP, KARPENTER_VERSION, NODECLAIM_PLURAL, NODECLAIM_KIND, namespaced=False
)

ANNOTATION_REVISION: Final = "workspace.kaito.sh/revision"
# On every child: hash of what the reconciler last wrote, so an unchanged child costs no write.
ANNOTATION_SPEC_HASH: Final = "kaito.sh/spec-hash"
# On the pod template: hash of the runtime ConfigMap, so an engine-argument change rolls the pods.
ANNOTATION_RUNTIME_HASH: Final = "kaito.sh/runtime-config-hash"
LABEL_NODECLAIM_INDEX: Final = "kaito.sh/nodeclaim-index"

NODECLAIM_PREFIX: Final = "ws"
NODECLAIM_HASH_CHARS: Final = 10


def stable_hash(value: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-able value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def nodeclaim_name(namespace: str, workspace: str, index: int) -> str:
    """`ws` + 10 hex characters: a valid AKS agent pool name (lowercase alphanumeric, ≤ 12, letter first),
    the same on every pass for the same Workspace and index."""
    digest = hashlib.sha256(f"{namespace}/{workspace}/{index}".encode()).hexdigest()
    return NODECLAIM_PREFIX + digest[:NODECLAIM_HASH_CHARS]


def workspace_labels(workspace: Workspace) -> dict[str, str]:
    """The two labels stamped on everything created for a Workspace."""
    return {
        LABEL_WORKSPACE: workspace.metadata.name,
        LABEL_WORKSPACE_NAMESPACE: workspace.metadata.namespace,
    }


def selector_string(labels: dict[str, str]) -> str:
    """A matchLabels map as the string form kubectl and the scale subresource use."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def revision(workspace: Workspace) -> str:
    """Hash of what the user asked for (resource, inference, tuning, scale target)."""
    return stable_hash(
        {
            "resource": workspace.resource.to_kube(),
            "inference": workspace.inference.to_kube() if workspace.inference else None,
            "tuning": workspace.tuning.to_kube() if workspace.tuning else None,
            "replicas": workspace.desired_replicas,
        }
    )


def service_name(workspace: Workspace) -> str:
    return workspace.metadata.name


def headless_service_name(workspace: Workspace) -> str:
    return f"{workspace.metadata.name}-headless"


def runtime_configmap_name(workspace: Workspace) -> str:
    return f"{workspace.metadata.name}-runtime"


def adapters_configmap_name(workspace: Workspace) -> str:
    return f"{workspace.metadata.name}-adapters"


def workload_name(workspace: Workspace) -> str:
    return workspace.metadata.name


def tuning_job_name(workspace: Workspace) -> str:
    return f"{workspace.metadata.name}-tuning"
