"""Validation of an object against a structural OpenAPI v3 schema with Kubernetes semantics and CEL rules."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.schema.errors import FieldError


def validate(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
    """Every violation of ``schema`` by ``obj``, as k8s-style FieldErrors (empty list = valid).

    ``old`` is the stored object on UPDATE; CEL transition rules (those using ``oldSelf``) run only where
    ``old`` has the value (or the rule sets ``optionalOldSelf``).
    """
    raise NotImplementedError
