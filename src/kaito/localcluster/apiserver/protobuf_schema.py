"""Field tables of the Kubernetes protobuf messages the API server can decode into their JSON form.

Field numbers come from upstream's ``generated.proto`` files (k8s.io/api core, apps, batch, rbac, policy,
authorization; apimachinery meta/v1, intstr, resource). Adding a kind is adding its messages here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Decoded specially by the engine rather than through a table.
QUANTITY = "Quantity"  # resource.Quantity {string = 1} -> "500m"
INT_OR_STRING = "IntOrString"  # intstr.IntOrString {type = 1, intVal = 2, strVal = 3} -> 80 | "http"
SCALARS = frozenset({"string", "bytes", "int", "bool"})


@dataclass(frozen=True)
class Field:
    """One field of a message: its JSON name and how its wire value becomes JSON.

    ``type`` is a scalar (string, bytes, int, bool) or a message name. ``map_value`` makes it a
    ``map<string, map_value>``. ``keep_zero`` marks Go pointer and non-omitempty fields, whose zero value
    is still part of the JSON (``replicas: 0``); other zero scalars are left out, as Go's omitempty does.
    ``server_set`` fields (status, timestamps, selfLink) are accepted and dropped: the server owns them.
    """

    name: str
    type: str = "string"
    repeated: bool = False
    map_value: str = ""
    keep_zero: bool = False
    server_set: bool = False


Message = dict[int, Field]


def text(name: str, *, keep_zero: bool = False) -> Field:
    return Field(name, "string", keep_zero=keep_zero)


def number(name: str, *, keep_zero: bool = False) -> Field:
    return Field(name, "int", keep_zero=keep_zero)


def flag(name: str, *, keep_zero: bool = False) -> Field:
    return Field(name, "bool", keep_zero=keep_zero)


def texts(name: str) -> Field:
    return Field(name, "string", repeated=True)


def nested(name: str, message: str) -> Field:
    return Field(name, message)


def nested_list(name: str, message: str) -> Field:
    return Field(name, message, repeated=True)


def mapping(name: str, value: str = "string") -> Field:
    return Field(name, map_value=value)


def server_set(name: str) -> Field:
    return Field(name, server_set=True)


def _object(spec: str) -> Message:
    """The usual top-level shape: metadata = 1, spec = 2, status = 3 (status is the server's)."""
    return {1: nested("metadata", "ObjectMeta"), 2: nested("spec", spec), 3: server_set("status")}


META: dict[str, Message] = {
    "ObjectMeta": {
        1: text("name"),
        2: text("generateName"),
        3: text("namespace"),
        4: server_set("selfLink"),
        5: text("uid"),
        6: text("resourceVersion"),
        7: server_set("generation"),
        8: server_set("creationTimestamp"),
        9: server_set("deletionTimestamp"),
        10: server_set("deletionGracePeriodSeconds"),
        11: mapping("labels"),
        12: mapping("annotations"),
        13: nested_list("ownerReferences", "OwnerReference"),
        14: texts("finalizers"),
    },
    "OwnerReference": {
        1: text("kind", keep_zero=True),
        3: text("name", keep_zero=True),
        4: text("uid", keep_zero=True),
        5: text("apiVersion", keep_zero=True),
        6: flag("controller", keep_zero=True),
        7: flag("blockOwnerDeletion", keep_zero=True),
    },
    "LabelSelector": {
        1: mapping("matchLabels"),
        2: nested_list("matchExpressions", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: text("key", keep_zero=True),
        2: text("operator", keep_zero=True),
        3: texts("values"),
    },
}

CORE: dict[str, Message] = {
    "Secret": {
        1: nested("metadata", "ObjectMeta"),
        2: mapping("data", "bytes"),
        3: text("type"),
        4: mapping("stringData"),
        5: flag("immutable", keep_zero=True),
    },
    "ConfigMap": {
        1: nested("metadata", "ObjectMeta"),
        2: mapping("data"),
        3: mapping("binaryData", "bytes"),
        4: flag("immutable", keep_zero=True),
    },
    "Namespace": _object("NamespaceSpec"),
    "NamespaceSpec": {1: texts("finalizers")},
    "ServiceAccount": {
        1: nested("metadata", "ObjectMeta"),
        4: flag("automountServiceAccountToken", keep_zero=True),
    },
    "Pod": _object("PodSpec"),
    "PodTemplateSpec": {1: nested("metadata", "ObjectMeta"), 2: nested("spec", "PodSpec")},
    "PodSpec": {
        2: nested_list("containers", "Container"),
        3: text("restartPolicy"),
        4: number("terminationGracePeriodSeconds", keep_zero=True),
        5: number("activeDeadlineSeconds", keep_zero=True),
        6: text("dnsPolicy"),
        7: mapping("nodeSelector"),
        8: text("serviceAccountName"),
        9: text("serviceAccount"),
        10: text("nodeName"),
        11: flag("hostNetwork"),
        12: flag("hostPID"),
        13: flag("hostIPC"),
        16: text("hostname"),
        17: text("subdomain"),
        19: text("schedulerName"),
        20: nested_list("initContainers", "Container"),
        21: flag("automountServiceAccountToken", keep_zero=True),
        22: nested_list("tolerations", "Toleration"),
        24: text("priorityClassName"),
        25: number("priority", keep_zero=True),
        27: flag("shareProcessNamespace", keep_zero=True),
        29: text("runtimeClassName", keep_zero=True),
        30: flag("enableServiceLinks", keep_zero=True),
        31: text("preemptionPolicy", keep_zero=True),
        35: flag("setHostnameAsFQDN", keep_zero=True),
        37: flag("hostUsers", keep_zero=True),
    },
    "Container": {
        1: text("name", keep_zero=True),
        2: text("image"),
        3: texts("command"),
        4: texts("args"),
        5: text("workingDir"),
        6: nested_list("ports", "ContainerPort"),
        7: nested_list("env", "EnvVar"),
        8: nested("resources", "ResourceRequirements"),
        13: text("terminationMessagePath"),
        14: text("imagePullPolicy"),
        16: flag("stdin"),
        17: flag("stdinOnce"),
        18: flag("tty"),
        20: text("terminationMessagePolicy"),
        24: text("restartPolicy", keep_zero=True),
    },
    "ContainerPort": {
        1: text("name"),
        2: number("hostPort"),
        3: number("containerPort", keep_zero=True),
        4: text("protocol"),
        5: text("hostIP"),
    },
    "EnvVar": {1: text("name", keep_zero=True), 2: text("value")},
    "ResourceRequirements": {1: mapping("limits", QUANTITY), 2: mapping("requests", QUANTITY)},
    "Toleration": {
        1: text("key"),
        2: text("operator"),
        3: text("value"),
        4: text("effect"),
        5: number("tolerationSeconds", keep_zero=True),
    },
    "Service": _object("ServiceSpec"),
    "ServiceSpec": {
        1: nested_list("ports", "ServicePort"),
        2: mapping("selector"),
        3: text("clusterIP"),
        4: text("type"),
        5: texts("externalIPs"),
        7: text("sessionAffinity"),
        8: text("loadBalancerIP"),
        9: texts("loadBalancerSourceRanges"),
        10: text("externalName"),
        11: text("externalTrafficPolicy"),
        12: number("healthCheckNodePort"),
        13: flag("publishNotReadyAddresses"),
        17: text("ipFamilyPolicy", keep_zero=True),
        18: texts("clusterIPs"),
        19: texts("ipFamilies"),
        20: flag("allocateLoadBalancerNodePorts", keep_zero=True),
        21: text("loadBalancerClass", keep_zero=True),
        22: text("internalTrafficPolicy", keep_zero=True),
        23: text("trafficDistribution", keep_zero=True),
    },
    "ServicePort": {
        1: text("name"),
        2: text("protocol"),
        3: number("port", keep_zero=True),
        # A non-pointer IntOrString: always on the wire, left out of the JSON when it is the zero value.
        4: Field("targetPort", INT_OR_STRING),
        5: number("nodePort"),
        6: text("appProtocol", keep_zero=True),
    },
}

APPS: dict[str, Message] = {
    "Deployment": _object("DeploymentSpec"),
    "DeploymentSpec": {
        1: number("replicas", keep_zero=True),
        2: nested("selector", "LabelSelector"),
        3: nested("template", "PodTemplateSpec"),
        4: nested("strategy", "DeploymentStrategy"),
        5: number("minReadySeconds"),
        6: number("revisionHistoryLimit", keep_zero=True),
        7: flag("paused"),
        9: number("progressDeadlineSeconds", keep_zero=True),
        10: text("podReplacementPolicy", keep_zero=True),
    },
    "DeploymentStrategy": {1: text("type"), 2: nested("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {
        1: Field("maxUnavailable", INT_OR_STRING, keep_zero=True),
        2: Field("maxSurge", INT_OR_STRING, keep_zero=True),
    },
}

BATCH: dict[str, Message] = {
    "Job": _object("JobSpec"),
    "JobSpec": {
        1: number("parallelism", keep_zero=True),
        2: number("completions", keep_zero=True),
        3: number("activeDeadlineSeconds", keep_zero=True),
        4: nested("selector", "LabelSelector"),
        5: flag("manualSelector", keep_zero=True),
        6: nested("template", "PodTemplateSpec"),
        7: number("backoffLimit", keep_zero=True),
        8: number("ttlSecondsAfterFinished", keep_zero=True),
        9: text("completionMode", keep_zero=True),
        10: flag("suspend", keep_zero=True),
        12: number("backoffLimitPerIndex", keep_zero=True),
        13: number("maxFailedIndexes", keep_zero=True),
        14: text("podReplacementPolicy", keep_zero=True),
        15: text("managedBy", keep_zero=True),
    },
}

RBAC: dict[str, Message] = {
    "Role": {1: nested("metadata", "ObjectMeta"), 2: nested_list("rules", "PolicyRule")},
    "ClusterRole": {
        1: nested("metadata", "ObjectMeta"),
        2: nested_list("rules", "PolicyRule"),
        3: nested("aggregationRule", "AggregationRule"),
    },
    "AggregationRule": {1: nested_list("clusterRoleSelectors", "LabelSelector")},
    "PolicyRule": {
        1: texts("verbs"),
        2: texts("apiGroups"),
        3: texts("resources"),
        4: texts("resourceNames"),
        5: texts("nonResourceURLs"),
    },
    "RoleBinding": {
        1: nested("metadata", "ObjectMeta"),
        2: nested_list("subjects", "Subject"),
        3: nested("roleRef", "RoleRef"),
    },
    "Subject": {
        1: text("kind", keep_zero=True),
        2: text("apiGroup"),
        3: text("name", keep_zero=True),
        4: text("namespace"),
    },
    "RoleRef": {
        1: text("apiGroup", keep_zero=True),
        2: text("kind", keep_zero=True),
        3: text("name", keep_zero=True),
    },
}

POLICY: dict[str, Message] = {
    "PodDisruptionBudget": _object("PodDisruptionBudgetSpec"),
    "PodDisruptionBudgetSpec": {
        1: Field("minAvailable", INT_OR_STRING, keep_zero=True),
        2: nested("selector", "LabelSelector"),
        3: Field("maxUnavailable", INT_OR_STRING, keep_zero=True),
    },
}

AUTH: dict[str, Message] = {
    "SelfSubjectAccessReview": _object("SelfSubjectAccessReviewSpec"),
    "SelfSubjectAccessReviewSpec": {
        1: nested("resourceAttributes", "ResourceAttributes"),
        2: nested("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: text("namespace"),
        2: text("verb"),
        3: text("group"),
        4: text("version"),
        5: text("resource"),
        6: text("subresource"),
        7: text("name"),
    },
    "NonResourceAttributes": {1: text("path"), 2: text("verb")},
    "SelfSubjectReview": {1: nested("metadata", "ObjectMeta"), 2: server_set("status")},
}

MESSAGES: dict[str, Message] = {**META, **CORE, **APPS, **BATCH, **RBAC, **POLICY, **AUTH}

# (apiVersion, kind) of a request body -> the message its raw bytes hold.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Pod"): "Pod",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",  # the same fields
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
}
