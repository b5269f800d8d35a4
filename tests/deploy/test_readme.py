"""README's "Troubleshooting by condition reason" names every reason the code can put on a Workspace."""

from __future__ import annotations

import re

from deploy.manifests import REPO
from kaito.api.weights import WEIGHTS_FAILURE_REASONS
from kaito.provisioner import azure_errors
from kaito.reconcilers import pods
from kaito.validation import issues

SOURCES = REPO / "src" / "kaito"
# Literal reasons in the reconcilers' status calls and the planners' PlanErrors.
_LITERAL_REASONS = (
    re.compile(r"builder\.\w+\(\s*(?:True|False|None|[a-z_.]+),\s*\"([A-Z][A-Za-z]+)\""),
    re.compile(r"builder\.fail\(\s*\"([A-Z][A-Za-z]+)\""),
    re.compile(r"waiting_reason = \"([A-Z][A-Za-z]+)\""),
    re.compile(r"reason=\"([A-Z][A-Za-z]+)\""),
    re.compile(r"JobOutcome\([^)]*?\"([A-Z][A-Za-z]+)\""),
)
# Reasons of conditions that are True or in progress: nothing to troubleshoot.
HEALTHY = {"NodesReady", "InferenceReady", "JobStarted", "JobRunning", "JobSucceeded", "WorkspaceReady"}


def _troubleshooting_table() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Troubleshooting by condition reason")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _code_reasons() -> set[str]:
    reasons: set[str] = (
        set(WEIGHTS_FAILURE_REASONS) | set(pods._WAITING_PROBLEMS) | {pods.DOWNLOADING_WEIGHTS}
    )
    reasons |= {value for name, value in vars(issues).items() if name.startswith("FIELD_")}
    for name in ("_QUOTA_CODES", "_CAPACITY_CODES", "_AUTHENTICATION_CODES", "_AUTHORIZATION_CODES"):
        reasons |= set(getattr(azure_errors, name))
    reasons |= set(azure_errors._MISSING_PARENT_CODES) | set(azure_errors._PERMANENT_CODES)
    for directory in ("reconcilers", "presets"):
        for path in (SOURCES / directory).glob("*.py"):
            source = path.read_text()
            for pattern in _LITERAL_REASONS:
                reasons |= set(pattern.findall(source))
    return reasons - HEALTHY


def test_every_condition_reason_is_documented() -> None:
    reasons = _code_reasons()
    assert {"InsufficientGPUMemory", "NodesProvisioning", "ConfigMapNotFound", "QuotaExceeded"} <= reasons
    documented = set(re.findall(r"`([A-Za-z_]+)`", _troubleshooting_table()))
    missing = sorted(reasons - documented)
    assert not missing, f"README's troubleshooting table lacks {missing}"
