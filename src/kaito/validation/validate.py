"""Entry points: every issue with a Workspace manifest (and, on update, with the change), sync and async."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from kaito.api import InferenceSpec, ResourceSpec, TuningSpec, Workspace
from kaito.api.base import KubeModel
from kaito.api.constants import ANNOTATION_RUNTIME, DEFAULT_RUNTIME, RUNTIMES
from kaito.presets import GpuFacts, ModelPreset, PlanError, plan_workspace
from kaito.validation.immutable import check_update
from kaito.validation.issues import (
    FIELD_INVALID,
    FieldIssue,
    issue,
    issues_from_validation_error,
    unique_issues,
)
from kaito.validation.lookups import Lookups, check_config, node_gpus
from kaito.validation.metadata import annotation_field, check_annotations, check_name
from kaito.validation.spec import check_inference, check_resource, check_tuning

Manifest = Workspace | dict[str, Any]
PartT = TypeVar("PartT", bound=KubeModel)


@dataclass(frozen=True)
class ValidationPolicy:
    """Knobs of the rules. `allow_private_urls`: local mode, where training data is served from the host."""

    allow_private_urls: bool = False


DEFAULT_POLICY = ValidationPolicy()


def validate_workspace(
    new: Manifest, old: Manifest | None = None, *, policy: ValidationPolicy | None = None
) -> list[FieldIssue]:
    """Every rule that needs no API call; on update (`old` given) also the immutable fields. Never raises.

    Issues already present on `old` are not reported again on update, so an object that predates a rule
    can still be updated (e.g. to remove its finalizer).
    """
    return _validate(new, old, policy or DEFAULT_POLICY, None)


async def validate_workspace_async(
    new: Manifest,
    old: Manifest | None = None,
    *,
    lookups: Lookups | None = None,
    namespace: str | None = None,
    policy: ValidationPolicy | None = None,
) -> list[FieldIssue]:
    """validate_workspace plus the checks that read the cluster through `lookups`: referenced ConfigMaps
    exist and parse, and bring-your-own nodes have enough GPU memory. Errors from `lookups` propagate."""
    policy = policy or DEFAULT_POLICY
    if lookups is None:
        return _validate(new, old, policy, None)
    workspace = _parse(new)
    if workspace is None:
        return _validate(new, old, policy, None)
    gpus, found = await node_gpus(workspace, lookups)
    found = _validate(new, old, policy, gpus) + found
    ns = namespace or workspace.metadata.namespace or "default"
    old_workspace = _parse(old) if old is not None else None
    if old_workspace is None or _config_of(old_workspace) != _config_of(workspace):
        found += await check_config(workspace, ns, lookups)
    return unique_issues(found)


def errors_only(found: list[FieldIssue]) -> list[FieldIssue]:
    return [item for item in found if item.is_error]


def _as_dict(obj: Manifest) -> Any:
    return obj.to_kube() if isinstance(obj, Workspace) else obj


def _parse(obj: Manifest | None) -> Workspace | None:
    if isinstance(obj, Workspace):
        return obj
    try:
        return Workspace.model_validate(obj)
    except ValidationError:
        return None


def _config_of(workspace: Workspace) -> str | None:
    spec = workspace.inference or workspace.tuning
    return spec.config if spec is not None else None


def _validate(
    new: Manifest, old: Manifest | None, policy: ValidationPolicy, gpus: GpuFacts | None
) -> list[FieldIssue]:
    raw_new = _as_dict(new)
    found = _check_manifest(raw_new, policy, gpus)
    if old is not None:
        raw_old = _as_dict(old)
        before = {(item.field, item.message) for item in _check_manifest(raw_old, policy, gpus)}
        found = [item for item in found if (item.field, item.message) not in before]
        if isinstance(raw_new, dict) and isinstance(raw_old, dict):
            found = check_update(raw_new, raw_old) + found
    return unique_issues(found)


def _check_manifest(raw: Any, policy: ValidationPolicy, gpus: GpuFacts | None) -> list[FieldIssue]:
    if not isinstance(raw, dict):
        return [issue("", FIELD_INVALID, "a Workspace must be a JSON object")]
    found: list[FieldIssue] = []
    metadata = raw.get("metadata")
    if isinstance(metadata, dict):
        found += check_name(metadata)
        found += check_annotations(metadata)
    try:
        workspace = Workspace.model_validate(raw)
    except ValidationError as exc:
        found += [_annotation_path(item) for item in issues_from_validation_error(exc)]
        return found + _check_parts(raw, policy)
    return found + check_semantics(workspace, policy=policy, gpus=gpus)


def _check_parts(raw: dict[str, Any], policy: ValidationPolicy) -> list[FieldIssue]:
    """The catalog rules for each section that parses on its own, so a structural error elsewhere does not
    hide them (the plan needs the whole Workspace and is skipped)."""
    found: list[FieldIssue] = []
    resource = _parse_part(ResourceSpec, raw.get("resource"))
    if resource is not None:
        found += check_resource(resource)
    inference = _parse_part(InferenceSpec, raw.get("inference"))
    if inference is not None:
        found += check_inference(inference, _runtime_of(raw))[1]
    tuning = _parse_part(TuningSpec, raw.get("tuning"))
    if tuning is not None:
        found += check_tuning(tuning, allow_private_urls=policy.allow_private_urls)[1]
    return found


def _parse_part(model: type[PartT], value: Any) -> PartT | None:
    if not isinstance(value, dict):
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _runtime_of(raw: dict[str, Any]) -> str:
    metadata = raw.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    runtime = annotations.get(ANNOTATION_RUNTIME) if isinstance(annotations, dict) else None
    return runtime if runtime in RUNTIMES else DEFAULT_RUNTIME


# Object-level rules of the api models, by words of their message -> the field a person should edit.
_ROOT_FIELDS = (("`inference`, `tuning`", "inference"), ("`spec.replicas`", "spec.replicas"))


def _annotation_path(item: FieldIssue) -> FieldIssue:
    """Point api-model errors reported on an object at the field to edit: the runtime annotation rather
    than `metadata`, `inference` rather than the whole Workspace."""
    if item.field == "metadata" and f"`{ANNOTATION_RUNTIME}`" in item.message:
        return item.model_copy(update={"field": annotation_field(ANNOTATION_RUNTIME)})
    if not item.field:
        for words, field in _ROOT_FIELDS:
            if words in item.message:
                return item.model_copy(update={"field": field})
    return item


def check_semantics(
    workspace: Workspace, *, policy: ValidationPolicy = DEFAULT_POLICY, gpus: GpuFacts | None = None
) -> list[FieldIssue]:
    """The catalog rules and the sizing plan for a Workspace that already parsed."""
    found = check_resource(workspace.resource)
    model: ModelPreset | None = None
    if workspace.inference is not None:
        model, spec_issues = check_inference(workspace.inference, workspace.runtime)
    else:
        assert workspace.tuning is not None
        model, spec_issues = check_tuning(workspace.tuning, allow_private_urls=policy.allow_private_urls)
    found += spec_issues
    blocking = {"resource.instanceType", "inference.preset.name", "tuning.preset.name", "tuning.method"}
    if model is not None and not any(item.field in blocking for item in found):
        found += check_plan(workspace, gpus)
    return found


def check_plan(workspace: Workspace, gpus: GpuFacts | None = None) -> list[FieldIssue]:
    """The planner's refusal, if the model does not fit the chosen GPUs (skipped for unknown own nodes)."""
    if not workspace.resource.instance_type and gpus is None:
        return []
    try:
        plan_workspace(workspace, node_gpus=gpus)
    except PlanError as err:
        message = err.message
        if err.suggested_skus and err.suggested_skus[0] not in message:
            message += f"; instance types that fit: {', '.join(err.suggested_skus)}"
        return [issue(err.field, err.reason, message)]
    return []
