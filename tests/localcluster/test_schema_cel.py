"""CEL ``x-kubernetes-validations``: rules, transition rules with oldSelf, messages, errors, speed."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.localcluster.schema import validate
from kaito.localcluster.schema.cel import compile_rule, escape_property_name, to_cel


def rules_schema(*rules: dict[str, Any], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "x-kubernetes-validations": list(rules)}


COUNT_IMMUTABLE = rules_schema(
    {"rule": "self.count == oldSelf.count", "message": "count is immutable", "fieldPath": ".count"},
    count={"type": "integer"},
)


def test_transition_rule_skipped_on_create_and_enforced_on_update() -> None:
    assert validate(COUNT_IMMUTABLE, {"count": 2}) == []
    assert validate(COUNT_IMMUTABLE, {"count": 2}, {"count": 2}) == []
    (error,) = validate(COUNT_IMMUTABLE, {"count": 3}, {"count": 2})
    assert error.field == "count"
    assert error.message() == 'count: Invalid value: "object": count is immutable'


def test_transition_rule_skipped_where_old_value_is_absent() -> None:
    schema = rules_schema(
        r=rules_schema({"rule": "self == oldSelf", "message": "immutable"}, x={"type": "string"}),
        other={"type": "string"},
    )
    assert validate(schema, {"r": {"x": "a"}, "other": "1"}, {"other": "0"}) == []
    assert [e.field for e in validate(schema, {"r": {"x": "b"}}, {"r": {"x": "a"}})] == ["r"]


def test_optional_old_self_runs_on_create() -> None:
    schema = rules_schema(
        {"rule": "!oldSelf.hasValue() || oldSelf.value().count <= self.count", "optionalOldSelf": True},
        {"rule": "oldSelf.orValue(self).count <= self.count + 10", "optionalOldSelf": True},
        count={"type": "integer"},
    )
    assert validate(schema, {"count": 1}) == []
    assert validate(schema, {"count": 5}, {"count": 1}) == []
    errors = validate(schema, {"count": 1}, {"count": 5})
    assert [e.detail for e in errors] == [
        "failed rule: !oldSelf.hasValue() || oldSelf.value().count <= self.count"
    ]


def test_has_is_false_for_absent_fields_and_access_is_an_error() -> None:
    schema = rules_schema(
        {
            "rule": "has(self.image) != has(self.volumeSource)",
            "message": "set exactly one of image or volumeSource",
        },
        image={"type": "string"},
        volumeSource={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )
    assert validate(schema, {"image": "x"}) == []
    assert [e.detail for e in validate(schema, {})] == ["set exactly one of image or volumeSource"]
    assert len(validate(schema, {"image": "x", "volumeSource": {}})) == 1
    broken = rules_schema({"rule": "self.image == 'x'"}, image={"type": "string"})
    (error,) = validate(broken, {})
    assert error.type == "FieldValueInvalid"
    assert "evaluating rule: self.image == 'x'" in error.detail


def test_errors_are_reported_never_raised() -> None:
    schema = rules_schema(
        {"rule": "self.count / 0 == 1"},
        {"rule": "self.count +"},
        {"rule": "self.count"},
        count={"type": "integer"},
    )
    errors = validate(schema, {"count": 1})
    assert [e.type for e in errors] == ["FieldValueInvalid", "InternalError", "FieldValueInvalid"]
    assert "rule compile error" in errors[1].detail
    assert "did not evaluate to a boolean" in errors[2].detail


def test_message_expression_reason_and_field_path() -> None:
    schema = rules_schema(
        {
            "rule": "self.replicas <= 5",
            "messageExpression": "'replicas must be at most 5, got ' + string(self.replicas)",
            "message": "fallback",
            "reason": "FieldValueForbidden",
            "fieldPath": ".replicas",
        },
        {
            "rule": "self.name.startsWith('a')",
            "messageExpression": "self.missing",
            "message": "fallback used",
        },
        replicas={"type": "integer"},
        name={"type": "string"},
    )
    errors = validate(schema, {"replicas": 7, "name": "b"})
    assert errors[0].message() == "replicas: Forbidden: replicas must be at most 5, got 7"
    assert errors[1].message() == 'Invalid value: "object": fallback used'


def test_macros_string_and_list_functions() -> None:
    schema = rules_schema(
        {"rule": "self.adapters.all(a, self.adapters.exists_one(b, b.name == a.name))", "message": "unique"},
        {"rule": "self.adapters.map(a, a.name).all(n, n.matches('^[a-z0-9-]+$'))", "message": "dns"},
        {"rule": "self.adapters.filter(a, a.strength == '0').size() == 0", "message": "no zero"},
        {"rule": "self.image.lowerAscii().endsWith(':latest') == false", "message": "no latest"},
        {"rule": "self.image.split('/').size() >= 2 && self.image.contains('/')", "message": "registry"},
        {"rule": "[1, 3, 2].sum() == 6 && ['b', 'a'].isSorted() == false", "message": "lists"},
        {
            "rule": "self.image.indexOf('/') > 0 && self.image.upperAscii().startsWith('REG')",
            "message": "str",
        },
        adapters={"type": "array", "items": {"type": "object", "properties": {"name": {}, "strength": {}}}},
        image={"type": "string"},
    )
    good = {
        "adapters": [{"name": "a", "strength": "1"}, {"name": "b", "strength": "0.5"}],
        "image": "reg/x:1",
    }
    assert validate(schema, good) == []
    bad = {"adapters": [{"name": "A", "strength": "0"}, {"name": "A", "strength": "1"}], "image": "x:LATEST"}
    assert [e.detail for e in validate(schema, bad)] == [
        "unique",
        "dns",
        "no zero",
        "no latest",
        "registry",
        "str",
    ]


def test_number_fields_bind_as_doubles_and_ternaries_work() -> None:
    schema = rules_schema(
        {"rule": "self.ratio > 0.5"},
        {"rule": "(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) == 1", "message": "exactly one of a or b"},
        ratio={"type": "number"},
        a={"type": "string"},
        b={"type": "string"},
    )
    assert validate(schema, {"ratio": 1, "a": "x"}) == []
    assert [e.detail for e in validate(schema, {"ratio": 1, "a": "x", "b": "y"})] == ["exactly one of a or b"]


def test_property_names_are_escaped_and_metadata_is_limited() -> None:
    assert escape_property_name("x-y") == "x__dash__y"
    assert escape_property_name("namespace") == "__namespace__"
    assert escape_property_name("a.b/c") == "a__dot__b__slash__c"
    schema = rules_schema(
        {"rule": "self.max__dash__size > 0 && self.metadata.name == 'w' && !has(self.metadata.labels)"},
        **{"max-size": {"type": "integer"}, "metadata": {"type": "object"}},
    )
    assert validate(schema, {"max-size": 1, "metadata": {"name": "w", "labels": {"a": "b"}}}) == []


def test_rules_on_list_items_correlate_old_values_by_map_key() -> None:
    item = rules_schema(
        {"rule": "self.image == oldSelf.image", "message": "image is immutable"},
        name={"type": "string"},
        image={"type": "string"},
    )
    schema = rules_schema(
        items={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": item,
        }
    )
    old = {"items": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    new = {"items": [{"name": "b", "image": "2"}, {"name": "a", "image": "1"}, {"name": "c", "image": "9"}]}
    assert [(e.field, e.detail) for e in validate(schema, new, old)] == [("items[0]", "image is immutable")]


def test_programs_are_cached_and_evaluation_is_fast() -> None:
    rule = "self.adapters.all(a, self.adapters.exists_one(b, b.name == a.name))"
    assert compile_rule(rule) is compile_rule(rule)
    schema = rules_schema({"rule": rule}, adapters={"type": "array", "items": {"type": "object"}})
    obj = {"adapters": [{"name": f"a{i}"} for i in range(3)]}
    validate(schema, obj)
    started = time.perf_counter()
    for _ in range(20):
        assert validate(schema, obj) == []
    per_call = (time.perf_counter() - started) / 20
    assert per_call < 0.25, f"{per_call * 1000:.1f} ms per validation"


def test_to_cel_shapes_values() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "number"}, "t": {"type": "string", "format": "date-time"}},
    }
    value = to_cel({"n": 1, "t": "2024-01-01T00:00:00Z", "extra": [1]}, schema)
    assert compile_rule("self.n == 1.0 && self.t < timestamp('2025-01-01T00:00:00Z')").evaluate(
        {"self": value}
    )


CRD_FILE = Path(__file__).resolve().parents[2] / "config" / "crd" / "kaito.sh_workspaces.yaml"


@pytest.mark.skipif(not CRD_FILE.exists(), reason="the Workspace CRD has not been generated")
def test_the_workspace_crd_accepts_the_walkthrough_and_guards_immutable_fields() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = version["schema"]["openAPIV3Schema"]
    workspace: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "workspace-phi-3-mini"},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": "phi-3"}}},
        "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}},
    }
    assert validate(schema, workspace) == []
    changed = copy.deepcopy(workspace)
    changed["resource"]["instanceType"] = "Standard_NC12s_v3"
    errors = validate(schema, changed, workspace)
    assert [e.field for e in errors] == ["resource.instanceType"]
    neither = {k: v for k, v in workspace.items() if k != "inference"}
    assert validate(schema, neither), "a Workspace with neither inference nor tuning must be rejected"


def test_transition_rules_run_even_where_the_value_did_not_change() -> None:
    strictly_growing = rules_schema(
        version=rules_schema({"rule": "self.n > oldSelf.n", "message": "must grow"}, n={"type": "integer"}),
        other={"type": "string"},
        shape=rules_schema({"rule": "self.n > 0", "message": "positive"}, n={"type": "integer"}),
    )
    old = {"version": {"n": 1}, "other": "a", "shape": {"n": -1}}
    new = {"version": {"n": 1}, "other": "b", "shape": {"n": -1}}
    # The unchanged invalid "shape" ratchets; the unchanged "version" still fails its transition rule.
    assert [(e.field, e.detail) for e in validate(strictly_growing, new, old)] == [("version", "must grow")]
    assert validate(strictly_growing, {**new, "version": {"n": 2}}, old) == []


def test_remembered_transition_passes_never_hide_a_failure() -> None:
    schema = rules_schema(
        version=rules_schema(
            {"rule": "self.n >= oldSelf.n", "message": "must not shrink"}, n={"type": "integer"}
        ),
        other={"type": "string"},
    )
    for round_ in range(3):
        assert (
            validate(schema, {"version": {"n": 1}, "other": str(round_)}, {"version": {"n": 1}, "other": "x"})
            == []
        )
    errors = validate(schema, {"version": {"n": 0}, "other": "y"}, {"version": {"n": 1}, "other": "x"})
    assert [e.detail for e in errors] == ["must not shrink"]


def test_a_remembered_pass_never_hides_a_failure() -> None:
    """Passing evaluations are memoised on the fields a rule reads; any change to those fields re-runs it."""
    schema = rules_schema(
        {"rule": "has(self.a) != has(self.b)", "message": "exactly one of a, b"},
        {"rule": "self.size() <= 2", "message": "at most two fields"},
        a={"type": "integer"},
        b={"type": "integer"},
        c={"type": "integer"},
    )
    assert compile_rule("has(self.a) != has(self.b)").fields_read == frozenset({"a", "b"})
    assert compile_rule("self.size() <= 2").fields_read is None
    assert compile_rule("self.x__dash__y == 1").fields_read is None  # an escaped JSON key
    for _ in range(2):  # the second round is served from the memo and must agree
        assert validate(schema, {"a": 1}) == []
        assert validate(schema, {"a": 1, "c": 5}) == []  # c is not read by the first rule: a hit
        assert [e.detail for e in validate(schema, {"a": 1, "b": 2})] == ["exactly one of a, b"]
        assert [e.detail for e in validate(schema, {})] == ["exactly one of a, b"]
        assert [e.detail for e in validate(schema, {"a": 1, "c": 5, "b": 1})] == [
            "exactly one of a, b",
            "at most two fields",
        ]
