"""Server-side apply: merge an applied configuration into the live object and track managedFields."""

from __future__ import annotations

from typing import Any


def server_side_apply(
    live: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool, kind: str
) -> dict[str, Any]:
    """Return the new object (with updated ``metadata.managedFields``) after ``manager`` applies ``applied``.

    ``live`` is None when the object does not exist yet. Raises ApplyConflict when fields owned by another
    manager would change value and ``force`` is False.
    """
    raise NotImplementedError
