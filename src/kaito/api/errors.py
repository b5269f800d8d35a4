"""Turns pydantic validation errors into field-level messages a person can act on."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError


class FieldError(BaseModel):
    """One problem with one field of a manifest, e.g. path `inference.adapters[0].strength`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def field_path(loc: Sequence[int | str]) -> str:
    """`("inference", "adapters", 0, "strength")` -> `inference.adapters[0].strength`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


_TOP_LEVEL_WORKSPACE_FIELDS = ("resource", "inference", "tuning")


def _message(error_type: str, message: str, loc: Sequence[int | str]) -> str:
    if error_type == "value_error":
        return message.removeprefix("Value error, ")
    if error_type == "extra_forbidden":
        if len(loc) == 2 and loc[0] == "spec" and loc[1] in _TOP_LEVEL_WORKSPACE_FIELDS:
            return (
                f"`{loc[1]}` belongs at the top level of a Workspace, not under `spec` "
                "(which only holds `replicas`)"
            )
        return "unknown field"
    if error_type == "missing":
        return "required field is missing"
    return message


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One FieldError per pydantic error, paths in the manifest's camelCase spelling."""
    errors: list[FieldError] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        errors.append(FieldError(path=field_path(loc), message=_message(error["type"], error["msg"], loc)))
    return errors


def _is_union_tag(part: int | str) -> bool:
    # pydantic inserts the member type name (e.g. "function-after[...]") into locations inside unions.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "list", "dict"})


def describe(exc: ValidationError) -> str:
    """All problems on separate lines."""
    return "\n".join(str(e) for e in field_errors(exc))
