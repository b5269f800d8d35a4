"""Fuzzed Workspaces: the models and the generated CRD (schema + CEL) agree on what is valid, and every
rejection by the models names a field."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kaito.api import Workspace
from kaito.api.errors import field_errors

from .crdtools import EXAMPLES, cel_failures, load_yaml, schema_errors, with_schema_defaults, workspace_schema

SEEDS = [load_yaml(p) for p in EXAMPLES] + [
    {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "custom"},
        "resource": {
            "count": 2,
            "labelSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
        },
        "inference": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "spec": {"replicas": 2},
    },
    {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "tune-volume"},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}, "preferredNodes": ["n1"]},
        "tuning": {
            "preset": {"name": "phi-3-mini-4k-instruct", "presetOptions": {"modelAccessSecret": "hf"}},
            "method": "lora",
            "config": "tuning-params",
            "input": {"volumeSource": {"persistentVolumeClaim": {"claimName": "data"}}},
            "output": {"volumeSource": {"emptyDir": {}}},
        },
    },
]

# Values a careless or hostile author might write anywhere (no nulls: the API server prunes those).
VALUES = st.one_of(
    st.sampled_from(["", "x", "phi-3", "Bad_Name", "1.5", "0.5", "1", "lora", "qlora", "In", "a" * 300]),
    st.integers(min_value=-2, max_value=12),
    st.booleans(),
    st.just(1.5),
    st.just([]),
    st.just({}),
    st.just(["a", "a"]),
    st.just({"unknown": 1}),
    st.just([{"source": {"name": "a", "image": "i"}}] * 2),
    st.just([{"source": {"name": f"a{i}", "image": "i"}} for i in range(11)]),
    st.just({"urls": ["https://x/y"], "image": "i"}),
)
MUTABLE_ROOTS = ("resource", "inference", "tuning")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _paths(sub, (*prefix, index))
    return out


def _inside_opaque(path: tuple[Any, ...]) -> bool:
    return any(step in ("template", "volumeSource") for step in path[:-1])


@st.composite
def mutated_workspaces(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = [
            p
            for p in _paths(obj)
            if p and p[0] in (*MUTABLE_ROOTS, "spec", "status") and not _inside_opaque(p)
        ]
        candidates += [(root,) for root in MUTABLE_ROOTS if root not in obj]
        path = draw(st.sampled_from(candidates))
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["delete", "set", "add-key"]))
        last = path[-1]
        if op == "delete" and isinstance(parent, dict) and last in parent:
            del parent[last]
        elif op == "delete" and isinstance(parent, list) and last < len(parent):
            parent.pop(last)
        elif op == "add-key" and isinstance(parent, dict) and isinstance(parent.get(last), dict):
            parent[last][draw(st.sampled_from(["extra", "spec", "name", "image"]))] = copy.deepcopy(
                draw(VALUES)
            )
        else:
            parent[last] = copy.deepcopy(draw(VALUES))
    return obj


def _crd_accepts(obj: dict[str, Any]) -> bool:
    schema = workspace_schema()
    if schema_errors(schema, obj):
        return False
    return not cel_failures(schema, with_schema_defaults(schema, obj))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_workspaces())
def test_models_and_crd_agree_on_fuzzed_workspaces(obj: dict[str, Any]) -> None:
    try:
        Workspace.from_kube(obj)
    except ValidationError as exc:
        errors = field_errors(exc)
        assert errors
        assert all(e.message for e in errors)
        assert not _crd_accepts(obj), f"the API server would accept what the models reject: {errors}"
    else:
        assert _crd_accepts(obj), "the models accept what the API server would reject"
