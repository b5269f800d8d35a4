"""Pruning of unknown fields and OpenAPI defaulting over a Kubernetes structural schema."""

from __future__ import annotations

from typing import Any

JSON = Any
Schema = dict[str, Any]


def prune(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` without fields the structural ``schema`` does not know.

    Honours ``x-kubernetes-preserve-unknown-fields`` and keeps ``apiVersion``/``kind``/``metadata`` at the
    root and inside ``x-kubernetes-embedded-resource`` objects.
    """
    raise NotImplementedError


def apply_defaults(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` with OpenAPI ``default`` values filled in where fields are absent.

    Recurses into properties, array ``items`` and ``additionalProperties`` as kube-apiserver does.
    """
    raise NotImplementedError
