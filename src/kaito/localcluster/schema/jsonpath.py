"""The JSONPath subset kubectl printer columns and ``kubectl wait --for=jsonpath`` use."""

from __future__ import annotations

from typing import Any


class JSONPathError(ValueError):
    """The expression is not valid in the supported subset."""


def evaluate_jsonpath(obj: dict[str, Any], expr: str) -> list[object]:
    """All values ``expr`` selects in ``obj``: ``.a.b``, ``[n]``, ``[*]``, ``[?(@.type=="Ready")].status``.

    Missing paths select nothing (an empty list), as printer columns show ``<none>``.
    """
    raise NotImplementedError
