"""Names shared across kaito: API group/versions, condition types, labels, annotations, finalizer, taints."""

from __future__ import annotations

from typing import Final

GROUP: Final = "kaito.sh"
VERSION_V1ALPHA1: Final = "v1alpha1"
VERSION_V1BETA1: Final = "v1beta1"
STORAGE_VERSION: Final = VERSION_V1BETA1
SERVED_VERSIONS: Final = (VERSION_V1ALPHA1, VERSION_V1BETA1)
API_VERSION_V1ALPHA1: Final = f"{GROUP}/{VERSION_V1ALPHA1}"
API_VERSION_V1BETA1: Final = f"{GROUP}/{VERSION_V1BETA1}"
WORKSPACE_KIND: Final = "Workspace"
WORKSPACE_PLURAL: Final = "workspaces"
WORKSPACE_SINGULAR: Final = "workspace"
WORKSPACE_SHORT_NAMES: Final = ("wk", "wks")

# Workspace condition types.
CONDITION_RESOURCE_READY: Final = "ResourceReady"
CONDITION_INFERENCE_READY: Final = "InferenceReady"
CONDITION_JOB_STARTED: Final = "JobStarted"
CONDITION_WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
CONDITION_WORKSPACE_READY: Final = "WorkspaceReady"
WORKSPACE_CONDITION_TYPES: Final = (
    CONDITION_RESOURCE_READY,
    CONDITION_INFERENCE_READY,
    CONDITION_JOB_STARTED,
    CONDITION_WORKSPACE_SUCCEEDED,
    CONDITION_WORKSPACE_READY,
)

# Labels stamped on everything kaito creates for a Workspace.
LABEL_WORKSPACE: Final = "kaito.sh/workspace"
LABEL_WORKSPACE_NAMESPACE: Final = "kaito.sh/workspacenamespace"
# Label on NodeClaims naming the machine type (Karpenter's well-known key).
LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"

# Annotations a user may set on a Workspace.
ANNOTATION_RUNTIME: Final = "kaito.sh/runtime"
RUNTIME_VLLM: Final = "vllm"
RUNTIME_TRANSFORMERS: Final = "transformers"
RUNTIMES: Final = (RUNTIME_VLLM, RUNTIME_TRANSFORMERS)
DEFAULT_RUNTIME: Final = RUNTIME_VLLM
ANNOTATION_ENABLE_LB: Final = "kaito.sh/enablelb"

FINALIZER: Final = "workspace.kaito.sh/finalizer"

# Taint put on every GPU NodeClaim so only workloads that tolerate it land there.
GPU_TAINT_KEY: Final = "sku"
GPU_TAINT_VALUE: Final = "gpu"
GPU_TAINT_EFFECT: Final = "NoSchedule"

# Karpenter NodeClaim API.
KARPENTER_GROUP: Final = "karpenter.sh"
KARPENTER_VERSION: Final = "v1"
NODECLAIM_API_VERSION: Final = f"{KARPENTER_GROUP}/{KARPENTER_VERSION}"
NODECLAIM_KIND: Final = "NodeClaim"
NODECLAIM_PLURAL: Final = "nodeclaims"
NODECLAIM_SINGULAR: Final = "nodeclaim"
NODECLAIM_CONDITION_LAUNCHED: Final = "Launched"
NODECLAIM_CONDITION_REGISTERED: Final = "Registered"
NODECLAIM_CONDITION_INITIALIZED: Final = "Initialized"
NODECLAIM_CONDITION_READY: Final = "Ready"

MAX_ADAPTERS: Final = 10
DEFAULT_ADAPTER_STRENGTH: Final = "1.0"
