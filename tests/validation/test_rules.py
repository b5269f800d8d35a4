# ruff: noqa: E501
"""Every admission rule, table-driven: the manifest change, the field path it is reported at, the reason
and words of the message that tell a person what to fix."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.validation import FieldIssue, validate_workspace
from kaito.validation.issues import (
    FIELD_FORBIDDEN,
    FIELD_INVALID,
    FIELD_NOT_SUPPORTED,
    FIELD_REQUIRED,
    FIELD_TOO_LONG,
    FIELD_TOO_MANY,
    FIELD_UNKNOWN,
)

from .manifests import SEEDS, Manifest, adapters, changed, custom_template, inference, removed, tuning

ANNOTATIONS = "metadata.annotations"


def _adapter(name: str, image: str = "myregistry.azurecr.io/adapters/a:1", **extra: Any) -> dict[str, Any]:
    return {"source": {"name": name, "image": image}, **extra}


def _both_modes() -> Manifest:
    return {**inference(), "tuning": tuning()["tuning"]}


def _llama(secret: bool) -> Manifest:
    preset: dict[str, Any] = {"name": "llama-3.1-8b-instruct"}
    if secret:
        preset["presetOptions"] = {"modelAccessSecret": "hf-token"}
    obj = changed(inference(), "inference.preset", preset)
    return changed(obj, "resource.instanceType", "Standard_NC24ads_A100_v4")


# (id, manifest, field, reason, words in the message)
CASES: list[tuple[str, Manifest, str, str, str]] = [
    ("name-too-long", changed(inference(), "metadata.name", "w" * 53), "metadata.name", FIELD_TOO_LONG, "at most 52"),
    ("name-uppercase", changed(inference(), "metadata.name", "Phi3"), "metadata.name", FIELD_INVALID, "DNS-1123 label"),
    ("name-digit-first", changed(inference(), "metadata.name", "3phi"), "metadata.name", FIELD_INVALID, "start with a letter"),
    ("generate-name-long", changed(removed(inference(), "metadata.name"), "metadata", {"generateName": "g" * 50}),
     "metadata.generateName", FIELD_TOO_LONG, "generated name fits"),
    ("both-modes", _both_modes(), "inference", FIELD_INVALID, "set exactly one of `inference`, `tuning`"),
    ("no-mode", removed(inference(), "inference"), "inference", FIELD_INVALID, "set exactly one of `inference`, `tuning`"),
    ("unknown-sku", changed(inference(), "resource.instanceType", "Standard_NC6s_v4"), "resource.instanceType",
     FIELD_NOT_SUPPORTED, "did you mean Standard_NC6s_v3"),
    ("gpu-too-small", changed(inference(), "inference.preset.name", "phi-4"), "resource.instanceType",
     "InsufficientGPUMemory", "GiB short; use an instance type with more GPU memory such as"),
    ("unknown-preset", changed(inference(), "inference.preset.name", "phi-3-mini-4k"), "inference.preset.name",
     FIELD_NOT_SUPPORTED, "did you mean phi-3-mini-4k-instruct"),
    ("preset-not-tunable", changed(tuning(), "tuning.preset.name", "deepseek-r1-distill-llama-8b"),
     "tuning.preset.name", "TuningNotSupported", "does not support fine-tuning; tunable presets:"),
    ("tuning-method-unknown", changed(tuning(), "tuning.method", "sft"), "tuning.method", FIELD_NOT_SUPPORTED,
     "'lora' or 'qlora'"),
    ("tuning-two-nodes", changed(tuning(), "resource.count", 2), "resource.count", "InvalidRequest",
     "tuning job runs on one node"),
    ("too-many-adapters", changed(adapters(), "inference.adapters", [_adapter(f"a{i}") for i in range(11)]),
     "inference.adapters", FIELD_TOO_MANY, "at most 10"),
    ("duplicate-adapters", changed(adapters(), "inference.adapters", [_adapter("a"), _adapter("a")]),
     "inference.adapters", FIELD_INVALID, "'a' is used more than once"),
    ("adapter-name", changed(adapters(), "inference.adapters.0.source.name", "Bad_Name"),
     "inference.adapters[0].source.name", FIELD_INVALID, "not a DNS-1123 subdomain"),
    ("adapter-strength-range", changed(adapters(), "inference.adapters.0.strength", "1.5"),
     "inference.adapters[0].strength", FIELD_INVALID, 'decimal string from "0" to "1"'),
    ("adapter-strength-word", changed(adapters(), "inference.adapters.0.strength", "full"),
     "inference.adapters[0].strength", FIELD_INVALID, 'decimal string from "0" to "1"'),
    ("adapter-strength-number", changed(adapters(), "inference.adapters.0.strength", 0.5),
     "inference.adapters[0].strength", FIELD_INVALID, "string"),
    ("adapter-image", changed(adapters(), "inference.adapters.0.source.image", "REGISTRY/ADAPTER:0.0.1"),
     "inference.adapters[0].source.image", FIELD_INVALID, "repository 'ADAPTER' must be lowercase"),
    ("adapter-image-tag", changed(adapters(), "inference.adapters.0.source.image", "reg.io/a:-bad"),
     "inference.adapters[0].source.image", FIELD_INVALID, "tag '-bad'"),
    ("adapter-two-origins", changed(adapters(), "inference.adapters.0.source.volumeSource", {"emptyDir": {}}),
     "inference.adapters[0].source", FIELD_INVALID, "set exactly one of `image`, `volumeSource`"),
    ("adapters-no-lora-preset", changed(changed(adapters(), "inference.preset.name", "gpt-oss-20b"),
     "resource.instanceType", "Standard_NC24ads_A100_v4"), "inference.adapters", FIELD_FORBIDDEN,
     "cannot load LoRA adapters on vllm; remove the adapters"),
    ("adapters-wrong-runtime", changed(changed(adapters(), "inference.preset.name", "falcon-7b"),
     "resource.instanceType", "Standard_NC24ads_A100_v4"), "inference.adapters", FIELD_FORBIDDEN,
     "set annotation kaito.sh/runtime to transformers"),
    ("adapters-on-template", changed(custom_template(), "inference.adapters", [_adapter("a")]),
     "inference.adapters", FIELD_FORBIDDEN, "custom template"),
    ("input-two-sources", changed(tuning(), "tuning.input.image", "reg.io/data:1"), "tuning.input",
     FIELD_INVALID, "set exactly one of `urls`, `image`, `volumeSource`"),
    ("input-none", changed(tuning(), "tuning.input", {}), "tuning.input", FIELD_INVALID,
     "set exactly one of `urls`, `image`, `volumeSource`; found none"),
    ("output-none", changed(tuning(), "tuning.output", {}), "tuning.output", FIELD_INVALID,
     "set exactly one of `image`, `volumeSource`"),
    ("output-no-push-secret", removed(tuning(), "tuning.output.imagePushSecret"), "tuning.output", FIELD_INVALID,
     "`imagePushSecret` is required with `image`"),
    ("output-image", changed(tuning(), "tuning.output.image", "reg.io/Tuned:1"), "tuning.output.image",
     FIELD_INVALID, "must be lowercase"),
    ("output-digest", changed(tuning(), "tuning.output.image", "reg.io/tuned@sha256:" + "a" * 64),
     "tuning.output.image", FIELD_INVALID, "needs a tag"),
    ("push-secret-name", changed(tuning(), "tuning.output.imagePushSecret", "Push_Secret"),
     "tuning.output.imagePushSecret", FIELD_INVALID, "Secret name must be a DNS-1123 subdomain"),
    ("url-scheme", changed(tuning(), "tuning.input.urls", ["ftp://data.example.com/x"]), "tuning.input.urls[0]",
     FIELD_INVALID, "must use http or https"),
    ("url-metadata", changed(tuning(), "tuning.input.urls", ["http://169.254.169.254/latest"]),
     "tuning.input.urls[0]", FIELD_INVALID, "instance-metadata"),
    ("url-metadata-name", changed(tuning(), "tuning.input.urls", ["http://metadata.google.internal/x"]),
     "tuning.input.urls[0]", FIELD_INVALID, "instance-metadata"),
    ("url-private", changed(tuning(), "tuning.input.urls", ["https://10.1.2.3/d.parquet"]), "tuning.input.urls[0]",
     FIELD_INVALID, "private-network"),
    ("url-loopback", changed(tuning(), "tuning.input.urls", ["https://127.0.0.1/d"]), "tuning.input.urls[0]",
     FIELD_INVALID, "loopback"),
    ("url-loopback-int", changed(tuning(), "tuning.input.urls", ["http://2130706433/d"]), "tuning.input.urls[0]",
     FIELD_INVALID, "loopback"),
    ("url-loopback-v6", changed(tuning(), "tuning.input.urls", ["http://[::1]:8080/d"]), "tuning.input.urls[0]",
     FIELD_INVALID, "loopback"),
    ("url-mapped-v6", changed(tuning(), "tuning.input.urls", ["http://[::ffff:10.0.0.1]/d"]),
     "tuning.input.urls[0]", FIELD_INVALID, "private-network"),
    ("url-localhost", changed(tuning(), "tuning.input.urls", ["http://localhost:9000/d"]), "tuning.input.urls[0]",
     FIELD_INVALID, "loopback host"),
    ("url-link-local", changed(tuning(), "tuning.input.urls", ["http://169.254.1.1/d"]), "tuning.input.urls[0]",
     FIELD_INVALID, "link-local"),
    ("url-credentials", changed(tuning(), "tuning.input.urls", ["https://u:p@data.example.com/d"]),
     "tuning.input.urls[0]", FIELD_INVALID, "credentials"),
    ("url-second", changed(tuning(), "tuning.input.urls", ["https://data.example.com/a", "http://10.0.0.1/b"]),
     "tuning.input.urls[1]", FIELD_INVALID, "private-network"),
    ("runtime-annotation", changed(inference(), "metadata.annotations", {"kaito.sh/runtime": "tgi"}),
     f'{ANNOTATIONS}["kaito.sh/runtime"]', FIELD_INVALID, "must be `vllm` or `transformers`"),
    ("enablelb-annotation", changed(inference(), "metadata.annotations", {"kaito.sh/enablelb": "yes"}),
     f'{ANNOTATIONS}["kaito.sh/enablelb"]', FIELD_NOT_SUPPORTED, 'must be "True"'),
    ("model-access-secret", _llama(secret=False), "inference.preset.presetOptions.modelAccessSecret",
     FIELD_REQUIRED, "HF_TOKEN"),
    ("empty-selector", changed(inference(), "resource.labelSelector", {}), "resource.labelSelector", FIELD_REQUIRED,
     "matches every node"),
    ("selector-key", changed(inference(), "resource.labelSelector", {"matchLabels": {"bad key": "x"}}),
     "resource.labelSelector.matchLabels", FIELD_INVALID, "label key 'bad key'"),
    ("selector-value", changed(inference(), "resource.labelSelector", {"matchLabels": {"a": "b c"}}),
     'resource.labelSelector.matchLabels["a"]', FIELD_INVALID, "label value"),
    ("selector-unstampable", changed(inference(), "resource.labelSelector",
     {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
     "resource.labelSelector", FIELD_INVALID, "never be selected"),
    ("preferred-node", changed(inference(), "resource.preferredNodes", ["Node_1"]), "resource.preferredNodes[0]",
     FIELD_INVALID, "node name"),
    ("config-name", changed(inference(), "inference.config", "Bad_Config"), "inference.config", FIELD_INVALID,
     "ConfigMap name"),
    ("count-string", changed(inference(), "resource.count", "2"), "resource.count", FIELD_INVALID,
     "valid integer"),
    ("count-zero", changed(inference(), "resource.count", 0), "resource.count", FIELD_INVALID,
     "greater than or equal to 1"),
    ("spec-nesting", changed(removed(inference(), "inference"), "spec", {"inference": inference()["inference"]}),
     "spec.inference", FIELD_UNKNOWN, "belongs at the top level"),
    ("unknown-field", changed(inference(), "resource.gpus", 2), "resource.gpus", FIELD_UNKNOWN, "unknown field"),
    ("missing-selector", removed(inference(), "resource.labelSelector"), "resource.labelSelector", FIELD_REQUIRED,
     "required field is missing"),
    ("replicas-on-tuning", changed(tuning(), "spec", {"replicas": 2}), "spec.replicas", FIELD_INVALID,
     "inference Workspaces only"),
]  # fmt: skip


def _describe(issues: list[FieldIssue]) -> str:
    return "\n".join(f"{i.field} [{i.reason}] {i.message}" for i in issues)


@pytest.mark.parametrize(
    ("manifest", "field", "reason", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_reports_field_reason_and_fix(manifest: Manifest, field: str, reason: str, words: str) -> None:
    issues = validate_workspace(manifest)
    matching = [i for i in issues if i.field == field and i.reason == reason and words in i.message]
    assert matching, f"expected {field} [{reason}] ~ {words!r}; got:\n{_describe(issues)}"
    assert all(i.is_error for i in matching)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s["metadata"]["name"])
def test_seed_examples_are_accepted(seed: Manifest) -> None:
    assert validate_workspace(seed) == []


def test_byo_nodes_without_lookups_are_accepted_unsized() -> None:
    assert validate_workspace(removed(inference(), "resource.instanceType")) == []


def test_model_access_secret_given_is_accepted() -> None:
    assert validate_workspace(_llama(secret=True)) == []


def test_planner_suggests_instance_types() -> None:
    issues = validate_workspace(changed(inference(), "inference.preset.name", "phi-4"))
    assert [i.field for i in issues] == ["resource.instanceType"]
    assert "Standard_NV72ads_A10_v5" in issues[0].message


def test_every_problem_is_listed_not_only_the_first() -> None:
    obj = changed(adapters(), "metadata.name", "Bad")
    obj = changed(obj, "resource.instanceType", "Standard_NC6s_v9")
    obj = changed(obj, "inference.adapters.0.source.image", "bad image")
    fields = {i.field for i in validate_workspace(obj)}
    assert {"metadata.name", "resource.instanceType", "inference.adapters[0].source.image"} <= fields


def test_bad_value_is_echoed() -> None:
    issues = validate_workspace(changed(inference(), "resource.instanceType", "Standard_X"))
    assert issues[0].value == "Standard_X"


def test_private_urls_allowed_by_policy() -> None:
    from kaito.validation import ValidationPolicy

    obj = changed(tuning(), "tuning.input.urls", ["http://127.0.0.1:8000/train.parquet"])
    assert validate_workspace(obj, policy=ValidationPolicy(allow_private_urls=True)) == []
    assert validate_workspace(obj) != []


def test_not_an_object() -> None:
    values: list[Any] = [None, [], "workspace", 3]
    for value in values:
        issues = validate_workspace(value)
        assert issues
        assert issues[0].reason == FIELD_INVALID


def test_public_urls_and_hostnames_pass() -> None:
    for url in ("https://huggingface.co/d.parquet", "http://8.8.8.8/x", "https://[2606:4700::1111]/x"):
        assert validate_workspace(changed(tuning(), "tuning.input.urls", [url])) == [], url


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s["metadata"]["name"])
def test_parsed_models_are_validated_like_their_manifests(seed: Manifest) -> None:
    """The reconciler passes Workspace models, not dicts."""
    from kaito.api import Workspace

    assert validate_workspace(Workspace.model_validate(seed)) == []
    broken = Workspace.model_validate(changed(seed, "metadata.name", "x" * 60))
    assert [i.field for i in validate_workspace(broken)] == ["metadata.name"]
