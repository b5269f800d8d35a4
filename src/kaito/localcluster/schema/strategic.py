"""Strategic merge patch for built-in kinds, compatible with what kubectl sends."""

from __future__ import annotations

from typing import Any


def strategic_merge_supported(kind: str) -> bool:
    """Whether kube-apiserver accepts a strategic merge patch for ``kind`` (built-ins yes, CRs no: 415)."""
    raise NotImplementedError


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in ``kind``; raise PatchError on a malformed patch."""
    raise NotImplementedError
