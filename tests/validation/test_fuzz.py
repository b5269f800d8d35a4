"""Mutated Workspaces: validation never raises; each is rejected with field messages, or it parses, is
defaulted without new problems, and the planner sizes it. (tests/webhook/test_server.py sends another 1,000
through the HTTPS webhook.)"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from kaito.api import Workspace
from kaito.presets import plan_workspace
from kaito.validation import default_workspace, defaulted, errors_only, validate_workspace

from .fuzzing import mutated_workspaces


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_workspaces())
def test_fuzzed_workspaces_are_rejected_with_field_messages_or_plannable(obj: dict[str, Any]) -> None:
    issues = errors_only(validate_workspace(obj))
    default_workspace(obj)  # never raises either
    if issues:
        for item in issues:
            assert item.field, item
            assert item.message.strip(), item
            assert item.reason, item
        return
    workspace = Workspace.model_validate(obj)
    if workspace.resource.instance_type and workspace.preset_name is not None:
        plan_workspace(workspace)  # a PlanError here would have been an issue above
    assert errors_only(validate_workspace(defaulted(obj))) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_workspaces(), mutated_workspaces())
def test_fuzzed_updates_never_raise_and_name_fields(old: dict[str, Any], new: dict[str, Any]) -> None:
    for item in errors_only(validate_workspace(new, old)):
        assert item.field, item
        assert item.message.strip(), item
