"""The built-in kinds the API server serves (core, apps, batch, coordination, apiextensions, ...)."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.apiserver.registry import ResourceType, ScalePaths


def _t(group: str, version: str, resource: str, kind: str, **kw: Any) -> ResourceType:
    return ResourceType(group, version, resource, kind, **kw)


_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_SCALE = ScalePaths()


def _workload(resource: str, kind: str, short_name: str) -> ResourceType:
    """An apps/v1 controller of pods: listed by `kubectl get all`, with status and scale subresources."""
    return _t(
        "apps",
        "v1",
        resource,
        kind,
        short_names=(short_name,),
        categories=("all",),
        status_subresource=True,
        scale=_SCALE,
    )


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        status_subresource=True,
        field_labels=("status.phase",),
        extra_subresources=("finalize",),
    ),
    _t(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        status_subresource=True,
        field_labels=_POD_FIELDS,
        extra_subresources=("log", "binding", "eviction"),
    ),
    _t("", "v1", "services", "Service", short_names=("svc",), categories=("all",), status_subresource=True),
    _t("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _t("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _t("", "v1", "secrets", "Secret", field_labels=("type",)),
    _t("", "v1", "events", "Event", short_names=("ev",), field_labels=_EVENT_FIELDS),
    _t(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        short_names=("no",),
        status_subresource=True,
        field_labels=("spec.unschedulable",),
    ),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _t(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        short_names=("pvc",),
        status_subresource=True,
    ),
    _workload("deployments", "Deployment", "deploy"),
    _workload("replicasets", "ReplicaSet", "rs"),
    _workload("statefulsets", "StatefulSet", "sts"),
    _t(
        "batch",
        "v1",
        "jobs",
        "Job",
        categories=("all",),
        status_subresource=True,
        field_labels=("status.successful",),
    ),
    _t("coordination.k8s.io", "v1", "leases", "Lease"),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status_subresource=True,
    ),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _t(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        namespaced=False,
        categories=("api-extensions",),
    ),
    _t(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        field_labels=(
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "reportingController",
            "type",
        ),
        shares_storage_of=("", "events"),
    ),
    _t(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
        review=True,
    ),
    _t(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        namespaced=False,
        verbs=("create",),
        review=True,
    ),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _t(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short_names=("pdb",),
        status_subresource=True,
    ),
    _t("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
)
