"""Server-side printing: ``meta.k8s.io/v1 Table`` for built-in kinds and CRD additionalPrinterColumns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.schema import JSONPathError, evaluate_jsonpath

Obj = dict[str, Any]
Cell = Callable[[Obj], Any]
_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE = {
    "name": "Age",
    "type": "string",
    "format": "",
    "description": "CreationTimestamp is a timestamp "
    "representing the server time when this object was created.",
    "priority": 0,
}


def human_duration(seconds: float) -> str:
    """kubectl's short age format: 45s, 3m20s, 5h, 2d3h, 400d, 3y20d."""
    if seconds < -1:
        return "<invalid>"
    secs = max(int(seconds), 0)
    minutes, hours = secs // 60, secs // 3600
    if secs < 120:
        return f"{secs}s"
    if minutes < 10:
        return f"{minutes}m{secs % 60}s" if secs % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years = hours // (24 * 365)
        return f"{years}y{(hours // 24) % 365}d"
    return f"{hours // (24 * 365)}y"


def age(timestamp: Any) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.now(UTC) - then).total_seconds())


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(part, int):
            obj = obj[part] if isinstance(obj, list) and len(obj) > part else None
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def _pod_ready(obj: Obj) -> str:
    statuses = _get(obj, "status", "containerStatuses") or []
    total = len(_get(obj, "spec", "containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(obj: Obj) -> str:
    if _get(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    for status in _get(obj, "status", "containerStatuses") or []:
        waiting = _get(status, "state", "waiting", "reason")
        if waiting:
            return str(waiting)
        terminated = _get(status, "state", "terminated", "reason")
        if terminated and _get(obj, "status", "phase") not in ("Succeeded",):
            return str(terminated)
    return str(_get(obj, "status", "reason") or _get(obj, "status", "phase") or "Pending")


def _ports(obj: Obj) -> str:
    parts = []
    for port in _get(obj, "spec", "ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _external_ip(obj: Obj) -> str:
    ingress = _get(obj, "status", "loadBalancer", "ingress") or []
    ips = [i.get("ip") or i.get("hostname") for i in ingress]
    if ips:
        return ",".join(str(ip) for ip in ips)
    if _get(obj, "spec", "type") == "LoadBalancer":
        return "<pending>"
    if _get(obj, "spec", "type") == "ExternalName":
        return str(_get(obj, "spec", "externalName"))
    return ",".join(_get(obj, "spec", "externalIPs") or []) or "<none>"


def _node_status(obj: Obj) -> str:
    ready = next((c for c in _get(obj, "status", "conditions") or [] if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready else "Unknown"
    if _get(obj, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _roles(obj: Obj) -> str:
    labels = _get(obj, "metadata", "labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _completions(obj: Obj) -> str:
    return f"{_get(obj, 'status', 'succeeded') or 0}/{_get(obj, 'spec', 'completions') or 1}"


def _col(name: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": "", "description": name, "priority": priority}


_BUILTIN: dict[tuple[str, str], list[tuple[dict[str, Any], Cell]]] = {
    ("", "pods"): [
        (_col("Ready"), _pod_ready),
        (_col("Status"), _pod_status),
        (
            _col("Restarts", "string"),
            lambda o: str(
                sum(s.get("restartCount", 0) for s in _get(o, "status", "containerStatuses") or [])
            ),
        ),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
        (_col("IP", priority=1), lambda o: _get(o, "status", "podIP") or "<none>"),
        (_col("Node", priority=1), lambda o: _get(o, "spec", "nodeName") or "<none>"),
    ],
    ("", "services"): [
        (_col("Type"), lambda o: _get(o, "spec", "type") or "ClusterIP"),
        (_col("Cluster-IP"), lambda o: _get(o, "spec", "clusterIP") or "<none>"),
        (_col("External-IP"), _external_ip),
        (_col("Port(s)"), _ports),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
        (
            _col("Selector", priority=1),
            lambda o: (
                ",".join(f"{k}={v}" for k, v in (_get(o, "spec", "selector") or {}).items()) or "<none>"
            ),
        ),
    ],
    ("", "nodes"): [
        (_col("Status"), _node_status),
        (_col("Roles"), _roles),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
        (_col("Version"), lambda o: _get(o, "status", "nodeInfo", "kubeletVersion") or ""),
    ],
    ("", "namespaces"): [
        (_col("Status"), lambda o: _get(o, "status", "phase") or "Active"),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("", "configmaps"): [
        (_col("Data", "integer"), lambda o: len(_get(o, "data") or {}) + len(_get(o, "binaryData") or {})),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("", "secrets"): [
        (_col("Type"), lambda o: _get(o, "type") or "Opaque"),
        (_col("Data", "integer"), lambda o: len(_get(o, "data") or {})),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("", "events"): [
        (
            _col("Last Seen"),
            lambda o: age(
                _get(o, "lastTimestamp") or _get(o, "eventTime") or _get(o, "metadata", "creationTimestamp")
            ),
        ),
        (_col("Type"), lambda o: _get(o, "type") or ""),
        (_col("Reason"), lambda o: _get(o, "reason") or ""),
        (
            _col("Object"),
            lambda o: (
                f"{str(_get(o, 'involvedObject', 'kind') or '').lower()}/"
                f"{_get(o, 'involvedObject', 'name') or ''}"
            ),
        ),
        (_col("Message"), lambda o: _get(o, "message") or ""),
    ],
    ("apps", "deployments"): [
        (
            _col("Ready"),
            lambda o: f"{_get(o, 'status', 'readyReplicas') or 0}/{_get(o, 'spec', 'replicas') or 0}",
        ),
        (_col("Up-to-date", "integer"), lambda o: _get(o, "status", "updatedReplicas") or 0),
        (_col("Available", "integer"), lambda o: _get(o, "status", "availableReplicas") or 0),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("apps", "replicasets"): [
        (_col("Desired", "integer"), lambda o: _get(o, "spec", "replicas") or 0),
        (_col("Current", "integer"), lambda o: _get(o, "status", "replicas") or 0),
        (_col("Ready", "integer"), lambda o: _get(o, "status", "readyReplicas") or 0),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("apps", "statefulsets"): [
        (
            _col("Ready"),
            lambda o: f"{_get(o, 'status', 'readyReplicas') or 0}/{_get(o, 'spec', 'replicas') or 0}",
        ),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("batch", "jobs"): [
        (
            _col("Status"),
            lambda o: next(
                (
                    c["type"]
                    for c in _get(o, "status", "conditions") or []
                    if c.get("status") == "True" and c.get("type") in ("Complete", "Failed")
                ),
                "Running",
            ),
        ),
        (_col("Completions"), _completions),
        (_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp"))),
    ],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        (_col("Created At", "date"), lambda o: _get(o, "metadata", "creationTimestamp")),
    ],
}


def _jsonpath_cell(column: dict[str, Any]) -> Cell:
    path = str(column.get("jsonPath", ""))
    kind = str(column.get("type", "string"))

    def cell(obj: Obj) -> Any:
        try:
            found = evaluate_jsonpath(obj, path)
        except (JSONPathError, NotImplementedError):
            return None
        if not found:
            return None
        value = found[0]
        if kind == "date":
            return age(value) if isinstance(value, str) else None
        if kind == "integer":
            return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        if kind == "number":
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        if kind == "boolean":
            return value if isinstance(value, bool) else None
        if isinstance(value, dict | list):
            import json

            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return cell


def columns_for(rtype: ResourceType) -> list[tuple[dict[str, Any], Cell]]:
    if rtype.is_custom:
        printer = rtype.printer_columns or [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]
        result = []
        for column in printer:
            definition = {
                "name": column["name"],
                "type": column.get("type", "string"),
                "format": column.get("format", ""),
                "description": column.get("description")
                or f"Custom resource definition column (in JSONPath format): {column.get('jsonPath')}",
                "priority": int(column.get("priority", 0)),
            }
            result.append((definition, _jsonpath_cell(column)))
        return result
    return _BUILTIN.get(
        (rtype.group, rtype.resource), [(_AGE, lambda o: age(_get(o, "metadata", "creationTimestamp")))]
    )


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def to_table(
    rtype: ResourceType,
    objects: list[Obj],
    resource_version: str,
    include_object: str,
    api_version: str = "meta.k8s.io/v1",
    list_meta: dict[str, Any] | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    columns = columns_for(rtype)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [obj["metadata"]["name"]] + [cell(obj) for _, cell in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    metadata = dict(list_meta or {})
    metadata["resourceVersion"] = resource_version
    table: dict[str, Any] = {"kind": "Table", "apiVersion": api_version, "metadata": metadata}
    table["columnDefinitions"] = [] if no_headers else [_NAME_COLUMN] + [d for d, _ in columns]
    table["rows"] = rows
    return table
