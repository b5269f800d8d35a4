"""Update rules: fields fixed at creation (node count and shape, the model, the tuning method, the mode)."""

from __future__ import annotations

from typing import Any

from kaito.validation.issues import FIELD_FORBIDDEN, FIELD_IMMUTABLE, FieldIssue, issue

_RECREATE = "delete the Workspace and create it again to change it"


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# (field path, how to read it, the value the API server defaults an absent field to)
_FIXED: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("resource.count", ("resource", "count"), 1),
    ("resource.instanceType", ("resource", "instanceType"), ""),
    ("resource.labelSelector", ("resource", "labelSelector"), None),
    ("inference.preset.name", ("inference", "preset", "name"), None),
    ("tuning.preset.name", ("tuning", "preset", "name"), None),
    ("tuning.method", ("tuning", "method"), "lora"),
)


def _normalised_selector(value: Any) -> Any:
    """`{}` and `{matchLabels: {}}` select the same nodes; compare selectors by what they select."""
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if item not in (None, {}, [])}


def check_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldIssue]:
    """Issues for every fixed field an update changes, and for switching between inference and tuning."""
    found: list[FieldIssue] = []
    for mode, other in (("inference", "tuning"), ("tuning", "inference")):
        if _get(old, mode) is not None and _get(new, mode) is None and _get(new, other) is not None:
            found.append(
                issue(
                    other,
                    FIELD_FORBIDDEN,
                    f"this Workspace was created for {mode}; it cannot switch to {other} ({_RECREATE})",
                )
            )
    if found:
        return found
    for field, path, default in _FIXED:
        before, after = _get(old, *path), _get(new, *path)
        if path[0] in ("inference", "tuning") and (_get(old, path[0]) is None or _get(new, path[0]) is None):
            continue
        if path[-1] == "labelSelector":
            before, after = _normalised_selector(before), _normalised_selector(after)
        before = default if before is None else before
        after = default if after is None else after
        if before != after:
            found.append(
                issue(
                    field,
                    FIELD_IMMUTABLE,
                    f"is immutable (was {_describe(before)}); {_RECREATE}",
                    after,
                )
            )
    old_template = _get(old, "inference", "template") is not None
    new_template = _get(new, "inference", "template") is not None
    if (
        _get(old, "inference") is not None
        and _get(new, "inference") is not None
        and old_template != new_template
    ):
        found.append(
            issue(
                "inference.preset" if old_template else "inference.template",
                FIELD_FORBIDDEN,
                f"this Workspace was created with {'a custom template' if old_template else 'a preset'}; "
                f"it cannot switch ({_RECREATE})",
            )
        )
    return found


def _describe(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    return repr(value)
