"""Which pods back a Service port and where to connect to them; the Endpoints/EndpointSlice bodies."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kaito.localcluster.builtins.names import port_annotation

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
# Set on the Endpoints the controller writes (as kube-controller-manager does); only those are ever deleted.
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
UNSERVED = "nothing serves it (only declared container ports of local processes are reachable)"


@dataclass(frozen=True)
class EndpointPort:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True)
class PodEndpoint:
    """One selected pod: its readiness and the container port each Service port resolves to on it."""

    pod: Obj
    ready: bool
    ports: tuple[EndpointPort, ...]


def selector_of(service: Obj) -> dict[str, str] | None:
    """The Service's selector; None when it has none (its Endpoints are then the user's)."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return None
    return {str(k): str(v) for k, v in selector.items()}


def pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container_ports(pod: Obj) -> list[Obj]:
    return [port for c in (pod.get("spec") or {}).get("containers") or [] for port in c.get("ports") or []]


def resolve_target_port(pod: Obj, target: Any, protocol: str = "TCP") -> int | None:
    """A Service targetPort (number or container port name) on this pod; None when the name is unknown."""
    if isinstance(target, int):
        return target
    text = str(target)
    if text.isdigit():
        return int(text)
    for port in _container_ports(pod):
        if port.get("name") == text and (port.get("protocol") or "TCP") == protocol:
            return int(port["containerPort"])
    return None


def _endpoint_ports(service: Obj, pod: Obj) -> tuple[EndpointPort, ...]:
    ports = []
    for port in (service.get("spec") or {}).get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        target = resolve_target_port(pod, port.get("targetPort", port.get("port")), protocol)
        if target is not None:
            ports.append(EndpointPort(port.get("name") or "", target, protocol))
    return tuple(ports)


def pod_endpoints(service: Obj, pods: Iterable[Obj]) -> list[PodEndpoint]:
    """The pods a Service selects, as kube-controller-manager counts them (no terminated or IP-less pod)."""
    selector = selector_of(service)
    if selector is None:
        return []
    publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    namespace = service["metadata"].get("namespace", "")
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        status = pod.get("status") or {}
        if meta.get("namespace", "") != namespace or any(labels.get(k) != v for k, v in selector.items()):
            continue
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if meta.get("deletionTimestamp") and not publish_all:
            continue
        ports = _endpoint_ports(service, pod)
        found.append(PodEndpoint(pod, publish_all or pod_ready(pod), ports))
    found.sort(key=lambda e: str(e.pod["metadata"].get("name", "")))
    return found


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    address: Obj = {
        "ip": pod["status"]["podIP"],
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
        },
    }
    if (pod.get("spec") or {}).get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    return address


def _port_list(ports: tuple[EndpointPort, ...]) -> list[Obj]:
    return [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in ports]


def _labels(service: Obj) -> dict[str, str]:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def endpoints_body(service: Obj, endpoints: list[PodEndpoint]) -> Obj:
    """The v1 Endpoints object: one subset per distinct resolved port set."""
    groups: dict[tuple[EndpointPort, ...], tuple[list[Obj], list[Obj]]] = {}
    for endpoint in endpoints:
        if not endpoint.ports:
            continue
        ready, not_ready = groups.setdefault(endpoint.ports, ([], []))
        (ready if endpoint.ready else not_ready).append(_address(endpoint.pod))
    subsets = []
    for ports, (ready, not_ready) in groups.items():
        subset: Obj = {"ports": _port_list(ports)}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    meta = service["metadata"]
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "labels": {**_labels(service), SKIP_MIRROR_LABEL: "true"},
        },
    }
    if subsets:
        body["subsets"] = subsets
    return body


def slice_name(service_name: str, ports: tuple[EndpointPort, ...]) -> str:
    digest = hashlib.sha256(repr(ports).encode()).hexdigest()[:5]
    return f"{service_name[:57]}-{digest}"


def endpoint_slice_bodies(service: Obj, endpoints: list[PodEndpoint]) -> list[Obj]:
    """discovery.k8s.io/v1 EndpointSlices, one per resolved port set (a port-less placeholder when empty)."""
    groups: dict[tuple[EndpointPort, ...], list[Obj]] = {}
    for endpoint in endpoints:
        if not endpoint.ports:
            continue
        terminating = bool(endpoint.pod["metadata"].get("deletionTimestamp"))
        address = _address(endpoint.pod)
        entry: Obj = {
            "addresses": [address["ip"]],
            "conditions": {
                "ready": endpoint.ready and not terminating,
                "serving": endpoint.ready,
                "terminating": terminating,
            },
            "targetRef": address["targetRef"],
        }
        if "nodeName" in address:
            entry["nodeName"] = address["nodeName"]
        groups.setdefault(endpoint.ports, []).append(entry)
    if not groups:
        groups[()] = []
    meta = service["metadata"]
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    labels = {**_labels(service), SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY}
    return [
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": slice_name(meta["name"], ports),
                "namespace": meta.get("namespace", ""),
                "labels": labels,
                "ownerReferences": [owner],
            },
            "addressType": "IPv4",
            "endpoints": entries,
            "ports": _port_list(ports) if ports else None,
        }
        for ports, entries in groups.items()
    ]


def service_port(service: Obj, wanted: str | int | None) -> Obj | None:
    """The Service port named or numbered `wanted` (None: the first port)."""
    ports = (service.get("spec") or {}).get("ports") or []
    if wanted is None or wanted == "":
        return ports[0] if ports else None
    for port in ports:
        if port.get("name") == str(wanted) or str(port.get("port")) == str(wanted):
            return dict(port)
    return None


def connect_address(pod: Obj, container_port: int) -> tuple[str, int] | None:
    """Where a pod's container port is reached: the runner's loopback mapping, else podIP:port.

    None for an unmapped port of a loopback pod (a simulated container): 127.0.0.1:<containerPort> would
    reach whatever else listens there on the host."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    mapped = annotations.get(port_annotation(container_port))
    if mapped and str(mapped).isdigit():
        return "127.0.0.1", int(mapped)
    try:
        pod_ip = ipaddress.ip_address(str((pod.get("status") or {}).get("podIP") or ""))
    except ValueError:
        return None
    return None if pod_ip.is_loopback else (str(pod_ip), container_port)


def service_backends(service: Obj, port: Obj, pods: Iterable[Obj]) -> list[tuple[str, int]]:
    """The addresses a connection to one Service port may go to: its ready endpoints, in a stable order."""
    name = port.get("name") or ""
    backends: list[tuple[str, int]] = []
    for endpoint in pod_endpoints(service, pods):
        if not endpoint.ready:
            continue
        for ep_port in endpoint.ports:
            if ep_port.name == name and ep_port.protocol == (port.get("protocol") or "TCP"):
                address = connect_address(endpoint.pod, ep_port.port)
                if address is not None:
                    backends.append(address)
    return backends


def endpoints_backends(endpoints: Obj | None, port: Obj) -> list[tuple[str, int]]:
    """Ready addresses of a selector-less Service's hand-written Endpoints for one Service port."""
    name = port.get("name") or ""
    backends: list[tuple[str, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        numbers = [p["port"] for p in subset.get("ports") or [] if (p.get("name") or "") == name]
        for address in subset.get("addresses") or []:
            backends.extend((str(address["ip"]), int(n)) for n in numbers)
    return backends
