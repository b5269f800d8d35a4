"""Error shapes the API server turns into Kubernetes Status responses (422 Invalid, 409 Conflict, ...)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The reasons Kubernetes uses in StatusCause.reason for field errors.
FIELD_ERROR_TYPES = (
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueTypeInvalid",
    "FieldValueNotFound",
    "InternalError",
)

_WORDS = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueNotFound": "Not found",
    "InternalError": "Internal error",
}

# Error types whose message never repeats the offending value (as in k8s field.Error.Error()).
_NO_VALUE = frozenset({"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"})


def format_value(value: Any) -> str:
    """Render a bad value the way kube-apiserver quotes it in messages."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return str(value)


def _go_map(value: dict[str, Any]) -> str:
    """A map the way Go's %#v prints it, as k8s shows duplicate list-map keys."""
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in value.items())
    return f"map[string]interface {{}}{{{inner}}}"


@dataclass(frozen=True)
class FieldError:
    """One cause of a 422 Invalid, like k8s ``field.Error``.

    ``type`` is one of FIELD_ERROR_TYPES; ``field`` is a k8s-style path (``spec.containers[0].name``,
    ``metadata.labels[app]``); ``detail`` is the human explanation; ``bad_value`` the offending value.
    """

    type: str
    field: str
    detail: str
    bad_value: object = None

    def message(self) -> str:
        """``field: Invalid value: <v>: detail`` as kube-apiserver words it."""
        words = _WORDS.get(self.type, "Invalid value")
        if self.type in _NO_VALUE:
            text = f"{self.field}: {words}" if self.field else words
        else:
            head = f"{self.field}: " if self.field else ""
            shown = self.bad_value
            if self.type == "FieldValueDuplicate" and isinstance(shown, dict):
                text = f"{head}{words}: {_go_map(shown)}"
            else:
                text = f"{head}{words}: {format_value(shown)}"
        return f"{text}: {self.detail}" if self.detail else text

    def cause(self) -> dict[str, str]:
        """The StatusCause dict for ``status.details.causes``."""
        return {"reason": self.type, "message": self.message(), "field": self.field}


class PatchError(ValueError):
    """A patch document is malformed or cannot be applied (the server answers 422 or 400)."""


class ApplyConflict(Exception):
    """Server-side apply would change fields owned by other managers (the server answers 409)."""

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        """``conflicts`` is a list of (manager, field path like ``.spec.replicas``)."""
        self.conflicts = conflicts
        lines = [f'conflict with "{manager}": {path}' for manager, path in conflicts]
        if len(lines) == 1:
            text = f"Apply failed with 1 conflict: {lines[0]}"
        else:
            text = f"Apply failed with {len(lines)} conflicts: " + "\n".join(lines)
        super().__init__(text)


class AdmissionDenied(Exception):
    """An admission webhook denied the request or failed under ``failurePolicy: Fail``."""

    def __init__(self, code: int, message: str, reason: str = "") -> None:
        """``code`` is the HTTP status to answer with, ``reason`` the Status reason (may be empty)."""
        self.code = code
        self.message = message
        self.reason = reason
        super().__init__(message)
