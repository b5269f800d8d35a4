"""Rules on a parsed Workspace that need kaito's catalogs: instance type, preset, runtime, adapters,
tuning."""

from __future__ import annotations

from kaito.api import AdapterSpec, InferenceSpec, LabelSelector, PresetSpec, ResourceSpec, TuningSpec
from kaito.api.constants import ANNOTATION_RUNTIME
from kaito.presets import ModelPreset, UnknownPresetError, UnknownSkuError, get_preset, get_sku, list_presets
from kaito.validation.issues import (
    FIELD_FORBIDDEN,
    FIELD_INVALID,
    FIELD_NOT_SUPPORTED,
    FIELD_REQUIRED,
    FieldIssue,
    issue,
)
from kaito.validation.metadata import annotation_field
from kaito.validation.syntax import (
    dns1123_subdomain_problem,
    image_reference_problem,
    label_key_problem,
    label_value_problem,
)
from kaito.validation.urls import url_problem


def check_resource(resource: ResourceSpec) -> list[FieldIssue]:
    """A known instance type, a selector that names nodes (and that provisioned nodes will match)."""
    found: list[FieldIssue] = []
    if resource.instance_type:
        try:
            get_sku(resource.instance_type)
        except UnknownSkuError as err:
            found.append(
                issue("resource.instanceType", FIELD_NOT_SUPPORTED, err.message, resource.instance_type)
            )
    found += _check_selector(resource.label_selector, provisioned=bool(resource.instance_type))
    for index, node in enumerate(resource.preferred_nodes):
        problem = dns1123_subdomain_problem(node)
        if problem:
            found.append(
                issue(f"resource.preferredNodes[{index}]", FIELD_INVALID, f"node name {problem}", node)
            )
    return found


def _check_selector(selector: LabelSelector, *, provisioned: bool) -> list[FieldIssue]:
    field = "resource.labelSelector"
    found: list[FieldIssue] = []
    labels = selector.match_labels or {}
    for key, value in labels.items():
        problem = label_key_problem(key)
        if problem:
            found.append(issue(f"{field}.matchLabels", FIELD_INVALID, f"label key {key!r}: {problem}", key))
        problem = label_value_problem(value)
        if problem:
            found.append(
                issue(f'{field}.matchLabels["{key}"]', FIELD_INVALID, f"label value {problem}", value)
            )
    for index, requirement in enumerate(selector.match_expressions or []):
        problem = label_key_problem(requirement.key)
        if problem:
            found.append(
                issue(f"{field}.matchExpressions[{index}].key", FIELD_INVALID, problem, requirement.key)
            )
    if not labels and not selector.match_expressions:
        found.append(
            issue(
                field,
                FIELD_REQUIRED,
                "must select nodes: an empty selector matches every node in the cluster; set matchLabels, "
                "e.g. {matchLabels: {apps: my-model}}",
            )
        )
    elif provisioned and not found and not selector.matches(labels):
        found.append(
            issue(
                field,
                FIELD_INVALID,
                "kaito stamps matchLabels on the nodes it provisions, but those labels do not satisfy "
                "matchExpressions, so the new nodes would never be selected; express the selection with "
                "matchLabels",
            )
        )
    return found


def lookup_preset(preset: PresetSpec, field: str) -> tuple[ModelPreset | None, list[FieldIssue]]:
    try:
        return get_preset(preset.name), []
    except UnknownPresetError as err:
        return None, [issue(f"{field}.name", FIELD_NOT_SUPPORTED, err.message, preset.name)]


def _check_access_secret(model: ModelPreset, preset: PresetSpec, field: str) -> list[FieldIssue]:
    options = preset.preset_options
    secret = options.model_access_secret if options is not None else None
    secret_field = f"{field}.presetOptions.modelAccessSecret"
    if model.access_token_required and not secret:
        return [
            issue(
                secret_field,
                FIELD_REQUIRED,
                f"{model.name} downloads gated weights from {model.hf_repo}: name a Secret in this namespace "
                "holding your Hugging Face token under the key HF_TOKEN",
            )
        ]
    found = _check_secret_name(secret_field, secret)
    for index, name in enumerate(options.image_pull_secrets if options is not None else []):
        found += _check_secret_name(f"{field}.presetOptions.imagePullSecrets[{index}]", name)
    return found


def _check_secret_name(field: str, name: str | None) -> list[FieldIssue]:
    if name is None:
        return []
    problem = dns1123_subdomain_problem(name)
    return [issue(field, FIELD_INVALID, f"Secret name {problem}", name)] if problem else []


def _check_image(field: str, reference: str | None) -> list[FieldIssue]:
    if reference is None:
        return []
    problem = image_reference_problem(reference)
    return [issue(field, FIELD_INVALID, problem, reference)] if problem else []


def _check_config_name(field: str, name: str | None) -> list[FieldIssue]:
    if name is None:
        return []
    problem = dns1123_subdomain_problem(name)
    return [issue(field, FIELD_INVALID, f"ConfigMap name {problem}", name)] if problem else []


def check_inference(inference: InferenceSpec, runtime: str) -> tuple[ModelPreset | None, list[FieldIssue]]:
    """The preset exists and runs on the chosen runtime; adapters are allowed and well-formed."""
    found = _check_config_name("inference.config", inference.config)
    model: ModelPreset | None = None
    if inference.preset is not None:
        model, preset_issues = lookup_preset(inference.preset, "inference.preset")
        found += preset_issues
    if model is not None and inference.preset is not None:
        found += _check_access_secret(model, inference.preset, "inference.preset")
        if runtime not in model.runtimes:
            found.append(
                issue(
                    annotation_field(ANNOTATION_RUNTIME),
                    FIELD_NOT_SUPPORTED,
                    f"{model.name} cannot be served by {runtime}; use {' or '.join(model.runtimes)}",
                    runtime,
                )
            )
        elif inference.adapters and runtime not in model.adapter_runtimes:
            found.append(_adapters_not_allowed(model, runtime))
    if inference.template is not None and inference.adapters:
        found.append(
            issue(
                "inference.adapters",
                FIELD_FORBIDDEN,
                "adapters are loaded by kaito's serving runtime, which a custom template does not run; "
                "use a preset or remove the adapters",
            )
        )
    for index, adapter in enumerate(inference.adapters):
        found += _check_adapter(f"inference.adapters[{index}]", adapter)
    return model, found


def _adapters_not_allowed(model: ModelPreset, runtime: str) -> FieldIssue:
    if model.adapter_runtimes:
        fix = f"set annotation {ANNOTATION_RUNTIME} to {' or '.join(model.adapter_runtimes)}"
    else:
        fix = "remove the adapters or choose a preset that supports LoRA"
    return issue(
        "inference.adapters",
        FIELD_FORBIDDEN,
        f"{model.name} cannot load LoRA adapters on {runtime}; {fix}",
    )


def _check_adapter(field: str, adapter: AdapterSpec) -> list[FieldIssue]:
    found = _check_image(f"{field}.source.image", adapter.source.image)
    for index, name in enumerate(adapter.source.image_pull_secrets):
        found += _check_secret_name(f"{field}.source.imagePullSecrets[{index}]", name)
    return found


def check_tuning(
    tuning: TuningSpec, *, allow_private_urls: bool
) -> tuple[ModelPreset | None, list[FieldIssue]]:
    """A tunable preset and method, safe input URLs, well-formed images and names."""
    found = _check_config_name("tuning.config", tuning.config)
    model, preset_issues = lookup_preset(tuning.preset, "tuning.preset")
    found += preset_issues
    if model is not None:
        found += _check_tunable(model, tuning)
        found += _check_access_secret(model, tuning.preset, "tuning.preset")
    found += _check_tuning_io(tuning, allow_private_urls=allow_private_urls)
    return model, found


def _check_tunable(model: ModelPreset, tuning: TuningSpec) -> list[FieldIssue]:
    if not model.tuning:
        tunable = ", ".join(p.name for p in list_presets() if p.tuning)
        return [
            issue(
                "tuning.preset.name",
                "TuningNotSupported",
                f"{model.name} does not support fine-tuning; tunable presets: {tunable}",
                model.name,
            )
        ]
    method = tuning.method.value
    if method not in model.tuning_methods:
        return [
            issue(
                "tuning.method",
                "TuningNotSupported",
                f"{model.name} cannot be tuned with {method}; use {' or '.join(model.tuning_methods)}",
                method,
            )
        ]
    return []


def _check_tuning_io(tuning: TuningSpec, *, allow_private_urls: bool) -> list[FieldIssue]:
    found: list[FieldIssue] = []
    data = tuning.input
    for index, url in enumerate(data.urls or []):
        problem = url_problem(url, allow_private=allow_private_urls)
        if problem:
            found.append(issue(f"tuning.input.urls[{index}]", FIELD_INVALID, problem, url))
    found += _check_image("tuning.input.image", data.image)
    for index, name in enumerate(data.image_pull_secrets):
        found += _check_secret_name(f"tuning.input.imagePullSecrets[{index}]", name)
    found += _check_image("tuning.output.image", tuning.output.image)
    found += _check_secret_name("tuning.output.imagePushSecret", tuning.output.image_push_secret)
    output = tuning.output.image
    if output is not None and "@" in output:
        found.append(
            issue(
                "tuning.output.image",
                FIELD_INVALID,
                "the output image is pushed, so it needs a tag (e.g. :0.0.1), not a digest",
                output,
            )
        )
    return found
