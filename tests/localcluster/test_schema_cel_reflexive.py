"""Transition rules on unchanged values: the shortcut says "true" only where the CEL interpreter agrees."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.localcluster.schema.cel import compile_rule, to_cel
from kaito.localcluster.schema.cel_reflexive import true_when_unchanged

RULES = [
    "self.labelSelector == oldSelf.labelSelector",
    "has(self.count) == has(oldSelf.count) && (!has(self.count) || self.count == oldSelf.count)",
    "has(self.preset) == has(oldSelf.preset) && (!has(self.preset) || self.preset.name == oldSelf.preset"
    ".name)",
    "has(self.inference) == has(oldSelf.inference) && has(self.tuning) == has(oldSelf.tuning)",
    "self == oldSelf",
    "self.count != oldSelf.count",
    "!(self.count == oldSelf.count)",
    "true || self.x == oldSelf.x",
    "self.x == oldSelf.x || false",
    "!has(self.a.b) || self.a.b == oldSelf.a.b",
    "has(self.count) || self.count == oldSelf.count",
    "self.count == oldSelf.preset",
    "has(self.count) != has(oldSelf.count)",
    "self.count == oldSelf.count + 0",
    "self.metadata.name == oldSelf.metadata.name",
    "size(self.preset) == size(oldSelf.preset)",
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "labelSelector": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "count": {"type": "integer"},
        "x": {"type": "number"},
        "preset": {"type": "object", "properties": {"name": {"type": "string"}}},
        "inference": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "tuning": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "a": {
            "type": "object",
            "properties": {"b": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        },
    },
}
_LEAVES = st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.sampled_from(["s", ""])
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "b", "k"]), inner, max_size=3)
    ),
    max_leaves=10,
)
_OBJECTS = st.dictionaries(st.sampled_from([*SCHEMA["properties"], "metadata", "zz"]), _VALUES, max_size=6)


@settings(max_examples=600, deadline=None)
@given(_OBJECTS, st.sampled_from(RULES))
def test_a_shortcut_true_is_the_interpreters_true(value: dict[str, Any], rule: str) -> None:
    if true_when_unchanged(rule, value):
        converted = to_cel(value, SCHEMA)
        assert compile_rule(rule).evaluate({"self": converted, "oldSelf": converted}) is not False
        assert bool(compile_rule(rule).evaluate({"self": converted, "oldSelf": converted}))


def test_immutability_rules_of_present_fields_are_decided() -> None:
    value = {
        "count": 2,
        "labelSelector": {"matchLabels": {"a": "b"}},
        "preset": {"name": "p"},
        "inference": {},
    }
    for rule in RULES[:5]:
        assert true_when_unchanged(rule, value), rule


def test_everything_else_is_left_to_the_interpreter() -> None:
    assert not true_when_unchanged("self.count != oldSelf.count", {"count": 1})  # false
    assert not true_when_unchanged("self.labelSelector == oldSelf.labelSelector", {})  # no such key
    assert not true_when_unchanged("self.x == oldSelf.x", {"x": float("nan")})
    assert not true_when_unchanged("self.x == oldSelf.x", {"x": None})
    assert not true_when_unchanged("self.count == oldSelf.count + 0", {"count": 1})  # arithmetic
    assert not true_when_unchanged("self.metadata.name == oldSelf.metadata.name", {"metadata": {"name": "a"}})
    assert not true_when_unchanged("self.count ==", {"count": 1})  # does not parse
