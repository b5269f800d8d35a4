"""AdmissionReview bodies as the API server sends them."""

from __future__ import annotations

import uuid
from typing import Any


def review(obj: Any, old: Any = None, operation: str = "CREATE", sub_resource: str = "") -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"},
        "resource": {"group": "kaito.sh", "version": "v1beta1", "resource": "workspaces"},
        "name": _name_of(obj),
        "namespace": "team",
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _name_of(obj: Any) -> str:
    """What the API server puts in request.name: the object's name when it is a string."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""
