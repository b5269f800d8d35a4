"""Defence when the admission webhook is off: the same rules, from the shared `kaito.validation` module."""

from __future__ import annotations

from kaito.api.workspace import Workspace
from kaito.validation import FieldIssue, errors_only, validate_workspace


def blocking_issues(workspace: Workspace) -> list[FieldIssue]:
    """The errors (not warnings) the webhook would have rejected this Workspace for."""
    return errors_only(validate_workspace(workspace))


def summarize(issues: list[FieldIssue]) -> tuple[str, str]:
    """A condition reason (the first issue's) and a message naming every field and its fix."""
    return issues[0].reason, "; ".join(str(item) for item in issues)
