# ruff: noqa: E501
"""Hypothesis strategies: Workspaces derived from the seed examples by random, often hostile, mutations."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from .manifests import SEEDS

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
STRINGS = st.one_of(
    st.sampled_from(
        [
            "", "x", "phi-3", "Bad_Name", "1.5", "0.5", "1", "1.0", "lora", "qlora", "vllm", "transformers",
            "True", "yes", "Standard_NC6s_v3", "Standard_NC24ads_A100_v4", "g5.xlarge", "phi-4", "falcon-7b",
            "llama-3.1-8b-instruct", "gpt-oss-20b", "REGISTRY/ADAPTER:0.0.1", "reg.io/a/b:1", "reg.io/a@sha256:1",
            "http://10.0.0.1/d", "https://example.com/d", "http://[::1]/", "http://2130706433/", "ftp://x/y",
            "a" * 300, "a" * 53, "-a-", "ünïcode", "\x00", "kaito.sh/runtime",
        ]
    ),
    TEXT,
)  # fmt: skip
SCALARS = st.one_of(
    STRINGS,
    st.integers(-3, 20),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)


def _adapter(name: Any, image: Any = "reg.io/adapters/a:1", strength: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"source": {"name": name, "image": image}}
    if strength is not None:
        out["strength"] = strength
    return out


ADAPTERS = st.lists(
    st.builds(
        _adapter,
        st.one_of(st.sampled_from(["a", "b", "c.d"]), STRINGS),
        STRINGS,
        st.one_of(STRINGS, st.none()),
    ),
    max_size=12,
)
TUNING_INPUTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({"urls": st.lists(STRINGS, max_size=3)}),
    st.fixed_dictionaries({"image": STRINGS}),
    st.just({"volumeSource": {"emptyDir": {}}}),
    st.just({"urls": ["https://example.com/d"], "image": "reg.io/d:1"}),
    st.just({}),
)
TUNING_OUTPUTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({"image": STRINGS, "imagePushSecret": STRINGS}),
    st.fixed_dictionaries({"image": STRINGS}),
    st.just({"volumeSource": {"emptyDir": {}}}),
    st.just({}),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(STRINGS, SCALARS, max_size=3),
    ADAPTERS,
    TUNING_INPUTS,
    TUNING_OUTPUTS,
    st.just({"matchLabels": {}}),
    st.just({"matchExpressions": [{"key": "k", "operator": "Exists"}]}),
)
# Fields worth aiming at directly (besides random existing paths).
TARGETS = [
    ("metadata", "name"), ("metadata", "annotations"), ("metadata", "annotations", "kaito.sh/runtime"),
    ("metadata", "annotations", "kaito.sh/enablelb"), ("resource", "count"), ("resource", "instanceType"),
    ("resource", "labelSelector"), ("resource", "preferredNodes"), ("inference", "adapters"),
    ("inference", "preset", "name"), ("inference", "config"), ("tuning", "input"), ("tuning", "output"),
    ("tuning", "method"), ("tuning", "preset", "name"), ("spec", "replicas"), ("status",), ("extra",),
]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _paths(sub, (*prefix, index))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(step, {})
        elif isinstance(obj, list) and isinstance(step, int) and step < len(obj):
            obj = obj[step]
        else:
            return
    if isinstance(obj, dict) or (isinstance(obj, list) and isinstance(path[-1], int) and path[-1] < len(obj)):
        obj[path[-1]] = value


def _delete(obj: Any, path: tuple[Any, ...]) -> None:
    for step in path[:-1]:
        obj = obj[step]
    del obj[path[-1]]


@st.composite
def mutated_workspaces(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        action = draw(st.sampled_from(["set", "set", "target", "target", "delete", "swap-mode"]))
        if action == "set":
            path = draw(st.sampled_from(_paths(obj)))
            _set(obj, path, copy.deepcopy(draw(VALUES)))
        elif action == "target":
            _set(obj, draw(st.sampled_from(TARGETS)), copy.deepcopy(draw(VALUES)))
        elif action == "delete":
            path = draw(st.sampled_from(_paths(obj)))
            _delete(obj, path)
        else:
            other = draw(st.sampled_from(SEEDS))
            for mode in ("inference", "tuning"):
                obj.pop(mode, None)
                if mode in other and draw(st.booleans()):
                    obj[mode] = copy.deepcopy(other[mode])
    return obj
