# ruff: noqa: E501
"""Update rules: fixed fields cannot change, the mode cannot switch, and old problems do not block updates."""

from __future__ import annotations

import pytest

from kaito.validation import validate_workspace
from kaito.validation.issues import FIELD_FORBIDDEN, FIELD_IMMUTABLE

from .manifests import Manifest, adapters, changed, custom_template, inference, removed, tuning

# (id, old, new, field)
IMMUTABLE: list[tuple[str, Manifest, Manifest, str]] = [
    ("count", inference(), changed(inference(), "resource.count", 2), "resource.count"),
    ("count-defaulted", changed(inference(), "resource.count", 1), changed(inference(), "resource.count", 3),
     "resource.count"),
    ("instance-type", inference(), changed(inference(), "resource.instanceType", "Standard_NC24ads_A100_v4"),
     "resource.instanceType"),
    ("instance-type-removed", inference(), removed(inference(), "resource.instanceType"), "resource.instanceType"),
    ("label-selector", inference(), changed(inference(), "resource.labelSelector", {"matchLabels": {"x": "y"}}),
     "resource.labelSelector"),
    ("inference-preset", inference(), changed(inference(), "inference.preset.name", "phi-3-mini-128k-instruct"),
     "inference.preset.name"),
    ("tuning-preset", tuning(), changed(tuning(), "tuning.preset.name", "phi-3-mini-128k-instruct"),
     "tuning.preset.name"),
    ("tuning-method", tuning(), changed(tuning(), "tuning.method", "lora"), "tuning.method"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field"), [c[1:] for c in IMMUTABLE], ids=[c[0] for c in IMMUTABLE])
def test_fixed_fields_cannot_change(old: Manifest, new: Manifest, field: str) -> None:
    issues = validate_workspace(new, old)
    found = [i for i in issues if i.field == field and i.reason == FIELD_IMMUTABLE]
    assert found, issues
    assert "delete the Workspace and create it again" in found[0].message
    assert "was " in found[0].message


def test_switching_inference_to_tuning_is_forbidden() -> None:
    new = removed({**inference(), "tuning": tuning()["tuning"]}, "inference")
    issues = validate_workspace(new, inference())
    assert [(i.field, i.reason) for i in issues] == [("tuning", FIELD_FORBIDDEN)]
    assert "created for inference" in issues[0].message


def test_switching_preset_to_template_is_forbidden() -> None:
    new = changed(inference(), "inference", custom_template()["inference"])
    issues = validate_workspace(new, inference())
    assert any(i.field == "inference.template" and i.reason == FIELD_FORBIDDEN for i in issues), issues


@pytest.mark.parametrize(
    "new",
    [
        changed(adapters(), "inference.adapters.0.strength", "0.5"),
        changed(adapters(), "inference.adapters", []),
        changed(adapters(), "metadata.annotations", {"kaito.sh/enablelb": "True"}),
        changed(adapters(), "inference.preset.presetOptions", {"imagePullSecrets": ["pull"]}),
        changed(adapters(), "resource.count", 1),
        changed(
            adapters(),
            "resource.labelSelector",
            {"matchLabels": {"apps": "phi-3-adapter"}, "matchExpressions": []},
        ),
    ],
    ids=[
        "strength",
        "drop-adapters",
        "annotation",
        "preset-options",
        "count-default-made-explicit",
        "empty-list",
    ],
)
def test_mutable_changes_pass(new: Manifest) -> None:
    assert validate_workspace(new, adapters()) == []


def test_old_problems_do_not_block_updates() -> None:
    """An object admitted before a rule existed (or while the webhook was off) can lose its finalizer."""
    old = changed(inference(), "resource.instanceType", "Standard_Retired_v1")
    new = changed(old, "metadata.finalizers", [])
    assert validate_workspace(old) != []
    assert validate_workspace(new, old) == []


def test_new_problems_on_update_are_reported() -> None:
    old = adapters()
    new = changed(old, "inference.adapters.0.strength", "2")
    assert [i.field for i in validate_workspace(new, old)] == ["inference.adapters[0].strength"]
