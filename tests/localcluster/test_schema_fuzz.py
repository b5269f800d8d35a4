"""Fuzzing the real Workspace CRD schema: validation reports, never raises, whatever the input looks like."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaito.localcluster.schema import FieldError, apply_defaults, prune, validate

CRD_FILE = Path(__file__).resolve().parents[2] / "config" / "crd" / "kaito.sh_workspaces.yaml"
pytestmark = pytest.mark.skipif(not CRD_FILE.exists(), reason="the Workspace CRD has not been generated")

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)


def shaped_like(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that mostly follow the schema's shape but are often wrong in type or content."""
    options: list[st.SearchStrategy[Any]] = [SCALARS]
    properties = schema.get("properties") or {}
    if properties:
        optional = {name: shaped_like(sub, depth + 1) for name, sub in properties.items()}
        options.append(st.fixed_dictionaries({}, optional=optional))
    elif schema.get("type") == "object":
        options.append(st.dictionaries(st.text(max_size=4), SCALARS, max_size=3))
    if schema.get("type") == "array":
        options.append(st.lists(shaped_like(schema.get("items") or {}, depth + 1), max_size=4))
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    return options[-1] if depth == 0 else st.one_of(*options)


def workspace_schema(version: str) -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text()) if CRD_FILE.exists() else {"spec": {"versions": []}}
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    return {"type": "object"}


SCHEMA = workspace_schema("v1beta1")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(shaped_like(SCHEMA), shaped_like(SCHEMA))
def test_fuzzed_workspaces_are_rejected_with_field_errors_or_accepted(obj: Any, old: Any) -> None:
    cleaned = apply_defaults(SCHEMA, prune(SCHEMA, obj))
    errors = validate(SCHEMA, cleaned, old if isinstance(old, dict) else None)
    for error in errors:
        assert isinstance(error, FieldError)
        assert error.message()
