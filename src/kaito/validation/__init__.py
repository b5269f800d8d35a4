"""Admission rules for Workspaces, shared by the webhook and the reconciler: field issues and defaults."""

from kaito.validation.configmaps import (
    INFERENCE_CONFIG_KEY,
    TUNING_CONFIG_KEY,
    ConfigMapProblem,
    InferenceConfig,
    TuningConfig,
    parse_inference_config,
    parse_tuning_config,
)
from kaito.validation.defaulting import default_workspace, defaulted
from kaito.validation.issues import FieldIssue
from kaito.validation.lookups import Lookups, selector_string
from kaito.validation.metadata import MAX_NAME_LENGTH
from kaito.validation.syntax import image_reference_problem
from kaito.validation.urls import url_problem
from kaito.validation.validate import (
    ValidationPolicy,
    check_plan,
    check_semantics,
    errors_only,
    validate_workspace,
    validate_workspace_async,
)

__all__ = [
    "INFERENCE_CONFIG_KEY",
    "MAX_NAME_LENGTH",
    "TUNING_CONFIG_KEY",
    "ConfigMapProblem",
    "FieldIssue",
    "InferenceConfig",
    "Lookups",
    "TuningConfig",
    "ValidationPolicy",
    "check_plan",
    "check_semantics",
    "default_workspace",
    "defaulted",
    "errors_only",
    "image_reference_problem",
    "parse_inference_config",
    "parse_tuning_config",
    "selector_string",
    "url_problem",
    "validate_workspace",
    "validate_workspace_async",
]
