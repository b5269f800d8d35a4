"""Defaults and create/update rules kube-apiserver applies to built-in kinds (a practical subset)."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Collection
from typing import Any

from kaito.localcluster.apiserver.errors import field_cause, invalid
from kaito.localcluster.apiserver.registry import ResourceType

# Kinds whose status a create may not set (kube-apiserver resets it), with the status they start with.
_INITIAL_STATUS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): {"phase": "Pending"},
    ("", "services"): {"loadBalancer": {}},
    ("", "persistentvolumeclaims"): {"phase": "Pending"},
    ("", "namespaces"): {"phase": "Active"},
    ("apps", "deployments"): {},
    ("apps", "replicasets"): {"replicas": 0},
    ("apps", "statefulsets"): {"replicas": 0, "availableReplicas": 0},
    ("batch", "jobs"): {},
    ("policy", "poddisruptionbudgets"): {},
}


def _default_container(container: dict[str, Any]) -> None:
    container.setdefault(
        "imagePullPolicy",
        "Always"
        if str(container.get("image", "")).endswith(":latest")
        or ":" not in str(container.get("image", "")).rsplit("/", 1)[-1]
        else "IfNotPresent",
    )
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or ():
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any], restart_policy: bool = True) -> None:
    if restart_policy:
        spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(container, dict):
            _default_container(container)


def _default_template(spec: dict[str, Any], restart_policy: bool = True) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"], restart_policy)


def _job_selector(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    """Jobs get a generated selector on their own uid, and matching template labels."""
    if spec.get("manualSelector") or spec.get("selector"):
        return
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.setdefault("template", {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
    )


def apply_builtin_defaults(rtype: ResourceType, obj: dict[str, Any], creating: bool) -> None:
    """Mutate ``obj`` with the defaults kube-apiserver fills for this built-in kind."""
    gr = (rtype.group, rtype.resource)
    spec = obj.get("spec")
    if creating and gr in _INITIAL_STATUS and gr != ("", "nodes"):
        obj["status"] = dict(_INITIAL_STATUS[gr])
    if gr == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif gr == ("", "secrets"):
        if not obj.get("type"):
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
    elif gr == ("", "pods") and isinstance(spec, dict):
        default_pod_spec(spec)
    elif gr == ("", "services") and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or ():
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
    elif gr == ("apps", "deployments") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        _default_template(spec)
    elif gr == ("apps", "replicasets") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _default_template(spec)
    elif gr == ("apps", "statefulsets") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
        )
        _default_template(spec)
    elif gr == ("batch", "jobs") and isinstance(spec, dict):
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _default_template(spec, restart_policy=False)
        if creating:
            _job_selector(obj, spec)


class ClusterIPAllocator:
    """Hands out Service ClusterIPs from a range inside 127.0.0.0/8; the range's first address is reserved."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._next = 2

    def allocate(self, used: Collection[str], wanted: str | None, kind: str, name: str) -> str:
        if wanted:
            try:
                address = ipaddress.ip_address(wanted)
            except ValueError:
                raise invalid(
                    kind,
                    "",
                    name,
                    [
                        field_cause(
                            "FieldValueInvalid",
                            "spec.clusterIPs[0]",
                            f'Invalid value: "{wanted}": must be a valid IP address',
                        )
                    ],
                ) from None
            if address not in self.network:
                raise invalid(
                    kind,
                    "",
                    name,
                    [
                        field_cause(
                            "FieldValueInvalid",
                            "spec.clusterIPs",
                            f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: the provided IP '
                            f"({wanted}) is not in the valid range. The range of valid IPs is {self.network}",
                        )
                    ],
                )
            if wanted in used:
                raise invalid(
                    kind,
                    "",
                    name,
                    [
                        field_cause(
                            "FieldValueInvalid",
                            "spec.clusterIPs",
                            f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: provided IP is '
                            "already allocated",
                        )
                    ],
                )
            return wanted
        size = self.network.num_addresses
        for _ in range(size):
            if self._next >= size - 1:
                self._next = 2
            candidate = str(self.network.network_address + self._next)
            self._next += 1
            if candidate not in used:
                return candidate
        raise invalid(
            kind,
            "",
            name,
            [
                field_cause(
                    "FieldValueInvalid",
                    "spec.clusterIPs",
                    "Invalid value: []: failed to allocate a serviceIP: range is full",
                )
            ],
        )


def needs_cluster_ip(spec: dict[str, Any]) -> bool:
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def service_on_create(obj: dict[str, Any], allocator: ClusterIPAllocator, used: Collection[str]) -> None:
    spec = obj.setdefault("spec", {})
    name = obj["metadata"]["name"]
    if spec.get("type") == "ExternalName":
        return
    if spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    else:
        wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        ip = allocator.allocate(used, wanted, "Service", name)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        taken = 30000 + len(used) * 7
        for index, port in enumerate(spec.get("ports") or ()):
            port.setdefault("nodePort", 30000 + (taken + index) % 2768)


def service_on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Carry the allocated IP over when an update omits it; refuse to change it."""
    old_spec, spec = old.get("spec") or {}, new.setdefault("spec", {})
    if not old_spec.get("clusterIP"):
        return
    if not spec.get("clusterIP") and needs_cluster_ip(spec):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    if spec.get("clusterIP") != old_spec["clusterIP"] and spec.get("type") != "ExternalName":
        raise invalid(
            "Service",
            "",
            new["metadata"]["name"],
            [
                field_cause(
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    f'Invalid value: "{spec.get("clusterIP")}": may not change once set',
                )
            ],
        )
    if not spec.get("clusterIPs"):
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    for key in ("ipFamilies", "ipFamilyPolicy"):
        if key in old_spec:
            spec.setdefault(key, old_spec[key])
    old_ports = {p.get("port"): p for p in old_spec.get("ports") or ()}
    for port in spec.get("ports") or ():
        if "nodePort" not in port and "nodePort" in old_ports.get(port.get("port"), {}):
            port["nodePort"] = old_ports[port["port"]]["nodePort"]
