"""Defaults kaito fills into a Workspace on admission, as JSONPatch operations (or the defaulted object)."""

from __future__ import annotations

import copy
from typing import Any

from kaito.api.constants import ANNOTATION_RUNTIME, DEFAULT_ADAPTER_STRENGTH, DEFAULT_RUNTIME

DEFAULT_COUNT = 1
DEFAULT_TUNING_METHOD = "lora"

JsonPatchOp = dict[str, Any]


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def default_workspace(obj: Any) -> list[JsonPatchOp]:
    """JSONPatch `add` operations that fill the defaults the CRD schema does not (or might not) apply:
    `resource.count` 1, each adapter's `strength` "1.0", `tuning.method` lora, and the
    `kaito.sh/runtime` annotation (vllm) on inference Workspaces. Malformed parts are left alone."""
    if not isinstance(obj, dict):
        return []
    ops: list[JsonPatchOp] = []
    resource = obj.get("resource")
    if isinstance(resource, dict) and "count" not in resource:
        ops.append({"op": "add", "path": _pointer("resource", "count"), "value": DEFAULT_COUNT})
    inference = obj.get("inference")
    tuning = obj.get("tuning")
    if isinstance(inference, dict):
        adapters = inference.get("adapters")
        if isinstance(adapters, list):
            for index, adapter in enumerate(adapters):
                if isinstance(adapter, dict) and "strength" not in adapter:
                    path = _pointer("inference", "adapters", index, "strength")
                    ops.append({"op": "add", "path": path, "value": DEFAULT_ADAPTER_STRENGTH})
        ops += _default_runtime(obj.get("metadata"))
    if isinstance(tuning, dict) and "method" not in tuning:
        ops.append({"op": "add", "path": _pointer("tuning", "method"), "value": DEFAULT_TUNING_METHOD})
    return ops


def _default_runtime(metadata: Any) -> list[JsonPatchOp]:
    if not isinstance(metadata, dict):
        return []
    annotations = metadata.get("annotations")
    if annotations is None:
        return [
            {
                "op": "add",
                "path": _pointer("metadata", "annotations"),
                "value": {ANNOTATION_RUNTIME: DEFAULT_RUNTIME},
            }
        ]
    if isinstance(annotations, dict) and ANNOTATION_RUNTIME not in annotations:
        return [
            {
                "op": "add",
                "path": _pointer("metadata", "annotations", ANNOTATION_RUNTIME),
                "value": DEFAULT_RUNTIME,
            }
        ]
    return []


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with default_workspace's operations applied."""
    result = copy.deepcopy(obj)
    for op in default_workspace(obj):
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in op["path"].split("/")[1:]]
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = copy.deepcopy(op["value"])
    return result
