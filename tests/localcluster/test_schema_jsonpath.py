"""The JSONPath subset used by printer columns and ``kubectl wait --for=jsonpath``."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.localcluster.schema import JSONPathError, evaluate_jsonpath

WORKSPACE: dict[str, Any] = {
    "metadata": {"name": "w", "annotations": {"kaito.sh/runtime": "vllm"}},
    "resource": {"instanceType": "Standard_NC6s_v3", "count": 2},
    "status": {
        "conditions": [
            {"type": "ResourceReady", "status": "True", "observedGeneration": 1},
            {"type": "InferenceReady", "status": "False", "observedGeneration": 2},
        ],
        "workerNodes": ["n1", "n2"],
    },
    "spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 29500, "protocol": "TCP"}]},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".resource.instanceType", ["Standard_NC6s_v3"]),
        ("{.resource.count}", [2]),
        ("$.metadata.name", ["w"]),
        ('.status.conditions[?(@.type=="ResourceReady")].status', ["True"]),
        (".status.conditions[?(@.type == 'InferenceReady')].status", ["False"]),
        (".status.conditions[?(@.observedGeneration > 1)].type", ["InferenceReady"]),
        (".status.conditions[?(@.type!='ResourceReady')].type", ["InferenceReady"]),
        (".status.conditions[*].type", ["ResourceReady", "InferenceReady"]),
        (".status.workerNodes[0]", ["n1"]),
        (".status.workerNodes[-1]", ["n2"]),
        (".status.workerNodes[0:1]", ["n1"]),
        (".spec.ports[*].port", [80, 29500]),
        ("..port", [80, 29500]),
        (".metadata.annotations.kaito\\.sh/runtime", ["vllm"]),
        (".metadata.annotations['kaito.sh/runtime']", ["vllm"]),
        (".status.conditions[?(@.reason)].type", []),
        (".status.missing.field", []),
        (".status.workerNodes[5]", []),
        (".resource.*", ["Standard_NC6s_v3", 2]),
    ],
)
def test_expressions(expression: str, expected: list[object]) -> None:
    assert evaluate_jsonpath(WORKSPACE, expression) == expected


@pytest.mark.parametrize("expression", [".a[?(@.x ==== 1)]", ".a[", ".a[?(@.x == nope)]", ".a b"])
def test_invalid_expressions_raise(expression: str) -> None:
    with pytest.raises(JSONPathError):
        evaluate_jsonpath(WORKSPACE, expression)
