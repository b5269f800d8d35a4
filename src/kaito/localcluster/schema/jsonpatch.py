"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902)."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.schema.errors import PatchError


def json_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch; ``null`` deletes, objects merge, everything else replaces."""
    raise NotImplementedError


def json_patch(original: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply RFC 6902 operations (add/remove/replace/move/copy/test); raise PatchError on failure."""
    raise PatchError("not implemented")
