"""core/v1 Event <-> events.k8s.io/v1 Event: one stored object, two shapes (as kube-apiserver serves them)."""

from __future__ import annotations

from typing import Any

# events.k8s.io/v1 field -> core/v1 field, for fields whose meaning is the same.
_RENAMES = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "deprecatedSource": "source",
}
_SAME = ("metadata", "eventTime", "series", "related", "action", "reason", "type", "reportingInstance")
_FIELD_LABELS = {"regarding.": "involvedObject.", "reportingController": "reportingComponent"}


def to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event body in the stored (core/v1) shape."""
    core: dict[str, Any] = {"apiVersion": "v1", "kind": "Event"}
    for key in _SAME:
        if key in obj:
            core[key] = obj[key]
    for new, old in _RENAMES.items():
        if new in obj:
            core[old] = obj[new]
    return core


def from_core(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    event: dict[str, Any] = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for key in _SAME:
        if key in obj:
            event[key] = obj[key]
    for new, old in _RENAMES.items():
        if old in obj:
            event[new] = obj[old]
    return event


def core_field_path(path: str) -> str:
    """The stored object's field for an events.k8s.io field selector label."""
    for prefix, replacement in _FIELD_LABELS.items():
        if path.startswith(prefix):
            return replacement + path[len(prefix) :]
    return path
