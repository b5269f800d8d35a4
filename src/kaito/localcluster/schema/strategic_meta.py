"""Patch strategies and merge keys of the built-in kinds (k8s ``patchStrategy``/``patchMergeKey`` tags).

Lists not described here are atomic (replaced as a whole); maps always merge key by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class PatchField:
    """How one field merges: ``strategy`` is "merge", "retainKeys", "merge,retainKeys" or "" (default)."""

    strategy: str = ""
    key: str = ""
    fields: Mapping[str, PatchField] = field(default_factory=dict)

    @cached_property  # asked for every list of every object whose managed fields are recorded
    def merges_list(self) -> bool:
        """A list that merges element by element (instead of being replaced)."""
        return "merge" in self.strategy.split(",")

    @property
    def retains_keys(self) -> bool:
        """An object whose ``$retainKeys`` directive clears the fields it does not list."""
        return "retainKeys" in self.strategy.split(",")


def _struct(**fields: PatchField) -> PatchField:
    return PatchField(fields=fields)


def _by(key: str, element: PatchField | None = None, strategy: str = "merge") -> PatchField:
    return PatchField(strategy=strategy, key=key, fields=element.fields if element else {})


_SET = PatchField(strategy="merge")  # a primitive list merged as a set
_CONDITIONS = _by("type")

OBJECT_META = _struct(finalizers=_SET, ownerReferences=_by("uid"))

CONTAINER = _struct(
    env=_by("name"),
    ports=_by("containerPort"),
    volumeMounts=_by("mountPath"),
    volumeDevices=_by("devicePath"),
)

POD_SPEC = _struct(
    containers=_by("name", CONTAINER),
    initContainers=_by("name", CONTAINER),
    ephemeralContainers=_by("name", CONTAINER),
    volumes=_by("name", strategy="merge,retainKeys"),
    imagePullSecrets=_by("name"),
    hostAliases=_by("ip"),
    topologySpreadConstraints=_by("topologyKey"),
    resourceClaims=_by("name", strategy="merge,retainKeys"),
    schedulingGates=_by("name"),
)

POD_TEMPLATE_SPEC = _struct(metadata=OBJECT_META, spec=POD_SPEC)
_WORKLOAD_STATUS = _struct(conditions=_CONDITIONS)


def _kind(spec: PatchField | None = None, status: PatchField | None = None) -> PatchField:
    fields: dict[str, PatchField] = {"metadata": OBJECT_META}
    if spec is not None:
        fields["spec"] = spec
    if status is not None:
        fields["status"] = status
    return PatchField(fields=fields)


_DEPLOYMENT_STRATEGY = PatchField(strategy="retainKeys")
_JOB_SPEC = _struct(template=POD_TEMPLATE_SPEC)

KIND_META: dict[str, PatchField] = {
    "Pod": _kind(POD_SPEC, _struct(conditions=_CONDITIONS)),
    "PodTemplate": PatchField(fields={"metadata": OBJECT_META, "template": POD_TEMPLATE_SPEC}),
    "Deployment": _kind(_struct(template=POD_TEMPLATE_SPEC, strategy=_DEPLOYMENT_STRATEGY), _WORKLOAD_STATUS),
    "StatefulSet": _kind(_struct(template=POD_TEMPLATE_SPEC), _WORKLOAD_STATUS),
    "ReplicaSet": _kind(_struct(template=POD_TEMPLATE_SPEC), _WORKLOAD_STATUS),
    "ReplicationController": _kind(_struct(template=POD_TEMPLATE_SPEC), _WORKLOAD_STATUS),
    "DaemonSet": _kind(
        _struct(template=POD_TEMPLATE_SPEC, updateStrategy=_DEPLOYMENT_STRATEGY), _WORKLOAD_STATUS
    ),
    "Job": _kind(_JOB_SPEC, _WORKLOAD_STATUS),
    "CronJob": _kind(_struct(jobTemplate=_struct(metadata=OBJECT_META, spec=_JOB_SPEC))),
    "Service": _kind(_struct(ports=_by("port")), _struct(conditions=_CONDITIONS)),
    "Node": _kind(None, _struct(conditions=_CONDITIONS, addresses=_by("type"))),
    "PersistentVolumeClaim": _kind(None, _struct(conditions=_CONDITIONS)),
    "Namespace": _kind(None, _struct(conditions=_CONDITIONS)),
    "HorizontalPodAutoscaler": _kind(None, _struct(conditions=_CONDITIONS)),
    "PodDisruptionBudget": _kind(None, _struct(conditions=_CONDITIONS)),
    "ServiceAccount": _kind(),
}

# Every built-in kind accepts strategic merge patch; custom resources do not (415 from kube-apiserver).
BUILTIN_KINDS = frozenset(
    {
        *KIND_META,
        "ConfigMap", "Secret", "Endpoints", "EndpointSlice", "Event", "LimitRange", "ResourceQuota",
        "PersistentVolume", "Binding", "ComponentStatus", "ControllerRevision", "Lease", "Ingress",
        "IngressClass",
        "NetworkPolicy", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
        "StorageClass", "VolumeAttachment", "CSIDriver", "CSINode", "RuntimeClass",
        "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
        "FlowSchema", "PriorityLevelConfiguration", "CertificateSigningRequest", "TokenReview",
        "SubjectAccessReview", "Scale",
    }
)  # fmt: skip


def meta_for(kind: str) -> PatchField:
    """The patch metadata of ``kind`` (only ``metadata`` merge rules for kinds without special lists)."""
    return KIND_META.get(kind) or _kind()
