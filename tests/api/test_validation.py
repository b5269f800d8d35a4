"""Malformed Workspaces are rejected by the models with messages naming the field, and by the CRD too."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from kaito.api import Workspace
from kaito.api.errors import FieldError, describe, field_errors, field_path

from .crdtools import cel_failures, schema_errors, with_schema_defaults, workspace_schema

RESOURCE = {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": "phi-3"}}}
PRESET = {"name": "phi-3-mini-4k-instruct"}
TUNING: dict[str, Any] = {
    "preset": PRESET,
    "method": "qlora",
    "input": {"urls": ["https://example.com/train.parquet"]},
    "output": {"image": "registry.example.com/adapter:0.0.1", "imagePushSecret": "push"},
}


def _ws(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "ws", "namespace": "default"},
        "resource": copy.deepcopy(RESOURCE),
    }
    base.update(copy.deepcopy(fields))
    return {k: v for k, v in base.items() if v is not None}


def _adapter(name: str, strength: str = "1.0", **source: Any) -> dict[str, Any]:
    return {
        "source": {"name": name, "image": f"registry.example.com/{name}:1", **source},
        "strength": strength,
    }


BYO_SELECTOR = {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}


def _inference(**fields: Any) -> dict[str, Any]:
    return {"preset": PRESET, **fields}


MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, manifest, expected path, text the message must contain)
    ("both inference and tuning", _ws(inference=_inference(), tuning=TUNING), "", "`tuning`"),
    ("neither inference nor tuning", _ws(), "", "`inference`"),
    ("bad tuning method", _ws(tuning={**TUNING, "method": "full"}), "tuning.method", "'lora' or 'qlora'"),
    (
        "eleven adapters",
        _ws(inference=_inference(adapters=[_adapter(f"a{i}") for i in range(11)])),
        "inference.adapters",
        "at most 10",
    ),
    (
        "duplicate adapter names",
        _ws(inference=_inference(adapters=[_adapter("same"), _adapter("same")])),
        "inference.adapters",
        "'same'",
    ),
    (
        "adapter name not a DNS subdomain",
        _ws(inference=_inference(adapters=[_adapter("Phi_3")])),
        "inference.adapters[0].source.name",
        "DNS-1123",
    ),
    (
        "adapter strength above 1",
        _ws(inference=_inference(adapters=[_adapter("a", strength="1.5")])),
        "inference.adapters[0].strength",
        "'1.5'",
    ),
    (
        "adapter strength not a number",
        _ws(inference=_inference(adapters=[_adapter("a", strength="high")])),
        "inference.adapters[0].strength",
        "'high'",
    ),
    (
        "adapter with image and volume",
        _ws(inference=_inference(adapters=[_adapter("a", volumeSource={"emptyDir": {}})])),
        "inference.adapters[0].source",
        "`image`, `volumeSource`",
    ),
    (
        "tuning input with two sources",
        _ws(tuning={**TUNING, "input": {"urls": ["https://x/y.parquet"], "image": "reg/data:1"}}),
        "tuning.input",
        "found `urls`, `image`",
    ),
    (
        "tuning input with no source",
        _ws(tuning={**TUNING, "input": {}}),
        "tuning.input",
        "found none",
    ),
    (
        "tuning input with an empty url list",
        _ws(tuning={**TUNING, "input": {"urls": []}}),
        "tuning.input.urls",
        "at least 1",
    ),
    (
        "tuning output image without push secret",
        _ws(tuning={**TUNING, "output": {"image": "reg/out:1"}}),
        "tuning.output",
        "imagePushSecret",
    ),
    (
        "tuning output with image and volume",
        _ws(tuning={**TUNING, "output": {**TUNING["output"], "volumeSource": {"emptyDir": {}}}}),
        "tuning.output",
        "found `image`, `volumeSource`",
    ),
    (
        "inference with preset and template",
        _ws(inference=_inference(template={"spec": {"containers": []}})),
        "inference",
        "`preset`, `template`",
    ),
    (
        "zero nodes",
        _ws(resource={**RESOURCE, "count": 0}, inference=_inference()),
        "resource.count",
        "greater than or equal to 1",
    ),
    (
        "no label selector",
        _ws(resource={"instanceType": "Standard_NC6s_v3"}, inference=_inference()),
        "resource.labelSelector",
        "required",
    ),
    (
        "empty preset name",
        _ws(inference={"preset": {"name": ""}}),
        "inference.preset.name",
        "at least 1",
    ),
    (
        "a spec wrapper",
        _ws(spec={"resource": RESOURCE, "inference": _inference()}, inference=_inference()),
        "spec.resource",
        "belongs at the top level",
    ),
    (
        "scale target on a tuning workspace",
        _ws(tuning=TUNING, spec={"replicas": 2}),
        "",
        "inference Workspaces only",
    ),
    (
        "zero replicas",
        _ws(inference=_inference(), spec={"replicas": 0}),
        "spec.replicas",
        "greater than or equal to 1",
    ),
    ("unknown field", _ws(inference=_inference(replica=2)), "inference.replica", "unknown field"),
]


@pytest.mark.parametrize(("case", "manifest", "path", "text"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_model_rejects_with_a_field_level_message(
    case: str, manifest: dict[str, Any], path: str, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Workspace.from_kube(manifest)
    errors = field_errors(caught.value)
    matching = [e for e in errors if e.path == path and text in e.message]
    assert matching, (
        f"{case}: expected an error at {path!r} containing {text!r}, got:\n{describe(caught.value)}"
    )


@pytest.mark.parametrize(("case", "manifest", "path", "text"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_crd_rejects_the_same_manifest(case: str, manifest: dict[str, Any], path: str, text: str) -> None:
    schema = workspace_schema()
    problems = schema_errors(schema, manifest)
    if not problems:
        problems = [f"{p}: {m}" for p, m in cel_failures(schema, with_schema_defaults(schema, manifest))]
    assert problems, f"{case}: the API server would accept what the model rejects"


VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "bring your own nodes",
        _ws(resource={"labelSelector": BYO_SELECTOR}, inference=_inference()),
    ),
    ("ten adapters", _ws(inference=_inference(adapters=[_adapter(f"a{i}") for i in range(10)]))),
    ("strength zero", _ws(inference=_inference(adapters=[_adapter("a", strength="0")]))),
    ("strength half", _ws(inference=_inference(adapters=[_adapter("a", strength="0.5")]))),
    ("strength one", _ws(inference=_inference(adapters=[_adapter("a", strength="1")]))),
    (
        "adapter from a volume",
        _ws(inference=_inference(adapters=[{"source": {"name": "a.b-c", "volumeSource": {"emptyDir": {}}}}])),
    ),
    ("custom template", _ws(inference={"template": {"spec": {"containers": [{"name": "x", "image": "y"}]}}})),
    ("tuning to a volume", _ws(tuning={**TUNING, "output": {"volumeSource": {"emptyDir": {}}}})),
    ("tuning from an image", _ws(tuning={**TUNING, "input": {"image": "reg/data:1"}})),
    (
        "scaled, with status",
        _ws(
            inference=_inference(),
            spec={"replicas": 3},
            status={
                "conditions": [
                    {
                        "type": "WorkspaceReady",
                        "status": "True",
                        "reason": "Ready",
                        "message": "",
                        "observedGeneration": 2,
                        "lastTransitionTime": "2024-05-01T10:00:00Z",
                    }
                ],
                "workerNodes": ["n1"],
                "targetNodeCount": 1,
                "replicas": 3,
                "selector": "kaito.sh/workspace=ws",
                "adapters": [{"name": "a", "state": "Loaded"}],
            },
        ),
    ),
]


@pytest.mark.parametrize(("case", "manifest"), VALID, ids=[v[0] for v in VALID])
def test_valid_variants_pass_model_and_crd(case: str, manifest: dict[str, Any]) -> None:
    schema = workspace_schema()
    dumped = Workspace.from_kube(manifest).to_kube()
    assert dumped == with_schema_defaults(schema, manifest)
    assert schema_errors(schema, manifest) == []
    assert cel_failures(schema, with_schema_defaults(schema, manifest)) == []


def test_field_path_spelling() -> None:
    assert field_path(("inference", "adapters", 0, "source", "name")) == "inference.adapters[0].source.name"
    assert field_path(()) == ""
    assert str(FieldError(path="", message="set exactly one")) == "set exactly one"
    assert str(FieldError(path="a.b", message="bad")) == "a.b: bad"


def test_wrong_api_version_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Workspace.from_kube({**_ws(inference=_inference()), "apiVersion": "kaito.sh/v2"})
    assert [e.path for e in field_errors(caught.value)] == ["apiVersion"]
