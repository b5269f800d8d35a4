"""FieldIssue: one problem with one field of a Workspace, worded so a person can fix it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kaito.api.errors import field_errors

# Machine words for why a field is wrong; the Kubernetes `status.details.causes[].type` vocabulary plus
# the planner's refusal reasons (InsufficientGPUMemory, TuningNotSupported, ...).
FIELD_INVALID = "FieldValueInvalid"
FIELD_REQUIRED = "FieldValueRequired"
FIELD_NOT_SUPPORTED = "FieldValueNotSupported"
FIELD_DUPLICATE = "FieldValueDuplicate"
FIELD_FORBIDDEN = "FieldValueForbidden"
FIELD_TOO_LONG = "FieldValueTooLong"
FIELD_TOO_MANY = "FieldValueTooMany"
FIELD_NOT_FOUND = "FieldValueNotFound"
FIELD_IMMUTABLE = "FieldValueImmutable"
FIELD_UNKNOWN = "FieldValueUnknown"

Severity = Literal["error", "warning"]


class FieldIssue(BaseModel):
    """What is wrong with `field` (e.g. `inference.adapters[1].source.name`), why, and how to fix it."""

    model_config = ConfigDict(frozen=True)

    field: str
    reason: str
    message: str
    value: Any = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def issue(field: str, reason: str, message: str, value: Any = None) -> FieldIssue:
    return FieldIssue(field=field, reason=reason, message=message, value=_shown(value))


def warning(field: str, reason: str, message: str, value: Any = None) -> FieldIssue:
    return FieldIssue(field=field, reason=reason, message=message, value=_shown(value), severity="warning")


_PYDANTIC_REASONS = {
    "missing": FIELD_REQUIRED,
    "extra_forbidden": FIELD_UNKNOWN,
    "too_long": FIELD_TOO_MANY,
    "literal_error": FIELD_NOT_SUPPORTED,
    "enum": FIELD_NOT_SUPPORTED,
}


def issues_from_validation_error(exc: ValidationError) -> list[FieldIssue]:
    """The api models' structural errors (via `kaito.api.errors.field_errors`) as FieldIssues."""
    details = exc.errors(include_url=False)
    found: list[FieldIssue] = []
    for error, detail in zip(field_errors(exc), details, strict=True):
        reason = _PYDANTIC_REASONS.get(detail["type"], FIELD_INVALID)
        value = None if detail["type"] in ("missing", "extra_forbidden") else detail.get("input")
        message = _FIXES.get(error.message, error.message)
        found.append(issue(error.path, reason, message, value))
    return _unique(found)


# The api's bare structural messages, with what to do about them.
_FIXES = {
    "unknown field": "unknown field; remove it or correct its spelling "
    "(`kubectl explain workspace` lists the fields)",
    "required field is missing": "required field is missing; add it",
}


def _shown(value: Any) -> Any:
    """Scalars are echoed back; containers are left out (they would only repeat the manifest)."""
    if isinstance(value, str):
        return value if len(value) <= 256 else value[:253] + "..."
    if value is None or isinstance(value, bool | int | float):
        return value
    return None


def _unique(found: list[FieldIssue]) -> list[FieldIssue]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in found:
        key = (item.field, item.message)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def unique_issues(found: list[FieldIssue]) -> list[FieldIssue]:
    """Drop repeats of the same message on the same field, keeping the first."""
    return _unique(found)
