"""The seed examples parse unchanged, round-trip through the models and pass the generated CRD schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.api import TuningMethod, Workspace

from .crdtools import (
    EXAMPLES,
    REPO,
    cel_failures,
    load_yaml,
    schema_errors,
    with_schema_defaults,
    workspace_schema,
)

EXAMPLE_IDS = [str(p.relative_to(p.parents[1])) for p in EXAMPLES]


def _example(relative: str) -> Workspace:
    return Workspace.from_kube(load_yaml(REPO / "examples" / relative))


def test_the_three_seed_examples_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "kaito_workspace_phi_3.yaml",
        "kaito_workspace_phi_3_with_adapters.yaml",
        "kaito_workspace_tuning_phi_3.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_example_round_trips_modulo_defaults(path: Path) -> None:
    manifest = load_yaml(path)
    dumped = Workspace.from_kube(manifest).to_kube()
    # What comes back is the manifest plus exactly the defaults the CRD would fill in.
    assert dumped == with_schema_defaults(workspace_schema(), manifest)
    assert Workspace.from_kube(dumped).to_kube() == dumped


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_example_passes_crd_schema_and_rules(path: Path, version: str) -> None:
    manifest = load_yaml(path)
    schema = workspace_schema(version)
    assert schema_errors(schema, manifest) == []
    assert cel_failures(schema, with_schema_defaults(schema, manifest)) == []
    # An unchanged update passes every transition rule too.
    defaulted = with_schema_defaults(schema, manifest)
    assert cel_failures(schema, defaulted, defaulted) == []


def test_walkthrough_workspace_fields() -> None:
    ws = _example("inference/kaito_workspace_phi_3.yaml")
    assert ws.api_version == "kaito.sh/v1alpha1"
    assert ws.metadata.name == "workspace-phi-3-mini"
    assert ws.resource.count == 1
    assert ws.resource.instance_type == "Standard_NC6s_v3"
    assert ws.resource.label_selector.match_labels == {"apps": "phi-3"}
    assert ws.inference is not None
    assert ws.inference.preset is not None
    assert ws.inference.preset.name == "phi-3-mini-4k-instruct"
    assert ws.tuning is None
    assert ws.preset_name == "phi-3-mini-4k-instruct"


def test_adapter_example_fields() -> None:
    ws = _example("inference/kaito_workspace_phi_3_with_adapters.yaml")
    assert ws.inference is not None
    assert ws.inference.preset is not None
    assert ws.inference.preset.name == "phi-3-mini-128k-instruct"
    [adapter] = ws.inference.adapters
    assert adapter.name == "phi-3-adapter"
    assert adapter.source.image == "myregistry.azurecr.io/adapters/phi-3-adapter:0.0.1"
    assert adapter.strength == "1.0"


def test_tuning_example_fields() -> None:
    ws = _example("tuning/kaito_workspace_tuning_phi_3.yaml")
    assert ws.tuning is not None
    assert ws.inference is None
    assert ws.tuning.method is TuningMethod.QLORA
    assert ws.tuning.to_kube()["method"] == "qlora"
    assert ws.tuning.preset.name == "phi-3-mini-4k-instruct"
    urls = ws.tuning.input.urls
    assert urls is not None
    assert urls[0].endswith(".parquet?download=true")
    assert ws.tuning.output.image_push_secret


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_examples_have_no_spec_wrapper(path: Path) -> None:
    manifest = load_yaml(path)
    assert "spec" not in manifest
    assert "resource" in manifest
