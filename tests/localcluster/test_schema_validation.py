"""Structural-schema validation, pruning and defaulting with kube-apiserver's wording and field paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.localcluster.schema import FieldError, apply_defaults, prune, validate
from kaito.localcluster.schema.structural import prune_with_report

WORKSPACE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "resource": {
            "type": "object",
            "required": ["labelSelector"],
            "properties": {
                "count": {"type": "integer", "minimum": 1, "default": 1, "format": "int32"},
                "instanceType": {"type": "string", "maxLength": 20},
                "labelSelector": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "preferredNodes": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
            },
        },
        "inference": {
            "type": "object",
            "properties": {
                "adapters": {
                    "type": "array",
                    "maxItems": 2,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "pattern": "^[a-z]+$"},
                            "strength": {"type": "string", "default": "1.0"},
                        },
                    },
                },
                "runtime": {"type": "string", "enum": ["vllm", "transformers"]},
            },
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
        "port": {"x-kubernetes-int-or-string": True},
        "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
        "note": {"type": "string", "nullable": True, "minLength": 2},
        "created": {"type": "string", "format": "date-time"},
    },
}


def messages(errors: list[FieldError]) -> list[str]:
    return [error.message() for error in errors]


def valid_workspace() -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w"},
        "resource": {"count": 1, "labelSelector": {"matchLabels": {"apps": "phi-3"}}},
        "inference": {"adapters": [{"name": "a"}], "runtime": "vllm"},
    }


def test_valid_object_has_no_errors() -> None:
    assert validate(WORKSPACE, valid_workspace()) == []


def test_type_errors_name_the_field_and_both_types() -> None:
    obj = valid_workspace()
    obj["resource"]["count"] = "two"
    (error,) = validate(WORKSPACE, obj)
    assert error.type == "FieldValueTypeInvalid"
    assert error.field == "resource.count"
    assert error.message() == (
        'resource.count: Invalid value: "string": resource.count in body must be of type integer: "string"'
    )


def test_required_enum_pattern_and_paths_inside_lists() -> None:
    obj = valid_workspace()
    del obj["resource"]["labelSelector"]
    obj["inference"]["runtime"] = "tgi"
    obj["inference"]["adapters"] = [{"name": "Bad"}]
    assert messages(validate(WORKSPACE, obj)) == [
        "resource.labelSelector: Required value",
        'inference.adapters[0].name: Invalid value: "Bad": inference.adapters[0].name in body should match '
        "'^[a-z]+$'",
        'inference.runtime: Unsupported value: "tgi": supported values: "vllm", "transformers"',
    ]


def test_numeric_bounds_and_format() -> None:
    obj = valid_workspace()
    obj["resource"]["count"] = 0
    obj["ratio"] = 0
    obj["created"] = "yesterday"
    got = messages(validate(WORKSPACE, obj))
    assert (
        "resource.count: Invalid value: 0: resource.count in body should be greater than or equal to 1" in got
    )
    assert "ratio: Invalid value: 0: ratio in body should be greater than 0" in got
    assert (
        'created: Invalid value: "yesterday": created in body must be of type date-time: "yesterday"' in got
    )
    obj = valid_workspace()
    obj["resource"]["count"] = 2**40
    assert validate(WORKSPACE, obj)[0].detail.endswith("must be of type int32: 1099511627776")


def test_lengths_items_and_map_paths() -> None:
    obj = valid_workspace()
    obj["resource"]["instanceType"] = "x" * 21
    obj["inference"]["adapters"] = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    obj["labels"] = {"app": "long"}
    obj["note"] = "x"
    got = messages(validate(WORKSPACE, obj))
    assert "resource.instanceType: Too long: may not be more than 20 bytes" in got
    assert "inference.adapters: Too many: 3: must have at most 2 items" in got
    assert "labels[app]: Too long: may not be more than 3 bytes" in got
    assert 'note: Invalid value: "x": note in body should be at least 2 chars long' in got


def test_list_map_and_set_duplicates() -> None:
    obj = valid_workspace()
    obj["inference"]["adapters"] = [{"name": "a"}, {"name": "a"}]
    obj["resource"]["preferredNodes"] = ["n1", "n2", "n1"]
    got = messages(validate(WORKSPACE, obj))
    assert 'inference.adapters[1]: Duplicate value: map[string]interface {}{"name":"a"}' in got
    assert 'resource.preferredNodes[2]: Duplicate value: "n1"' in got


def test_nullable_and_non_nullable_null() -> None:
    obj = valid_workspace()
    obj["note"] = None
    assert validate(WORKSPACE, obj) == []
    obj["resource"]["instanceType"] = None
    assert messages(validate(WORKSPACE, obj)) == [
        'resource.instanceType: Invalid value: "null": '
        'resource.instanceType in body must be of type string: "null"'
    ]


def test_int_or_string() -> None:
    for good in (8080, "http"):
        assert validate(WORKSPACE, {**valid_workspace(), "port": good}) == []
    (error,) = validate(WORKSPACE, {**valid_workspace(), "port": 1.5})
    assert error.field == "port"
    assert "integer-or-string" in error.detail


def test_integral_float_counts_as_integer_but_bool_does_not() -> None:
    obj = valid_workspace()
    obj["resource"]["count"] = 2.0
    assert validate(WORKSPACE, obj) == []
    obj["resource"]["count"] = True
    assert validate(WORKSPACE, obj)[0].bad_value == "boolean"


def test_junctors_any_of_one_of_not() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["c"]},
    }
    assert validate(schema, {"a": "x"}) == []
    assert "oneOf" in validate(schema, {"a": "x", "b": "y"})[0].detail
    assert "oneOf" in validate(schema, {})[0].detail
    any_schema: dict[str, Any] = {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
    assert validate(any_schema, {"b": 1}) == []
    got = messages(validate(any_schema, {}))
    assert 'Invalid value: "object": must validate at least one schema (anyOf)' in got[0]
    assert "a: Required value" in got


def test_additional_properties_false_forbids_unknown() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }
    assert messages(validate(schema, {"a": "x", "zz": 1})) == ["zz: Forbidden: field not declared in schema"]


def test_ratcheting_keeps_unchanged_invalid_values_acceptable() -> None:
    old = valid_workspace()
    old["resource"]["instanceType"] = "x" * 30  # stored before maxLength existed
    new = valid_workspace()
    new["resource"]["instanceType"] = "x" * 30
    new["inference"]["runtime"] = "transformers"
    assert validate(WORKSPACE, new, old) == []
    new["resource"]["instanceType"] = "y" * 30
    assert [e.field for e in validate(WORKSPACE, new, old)] == ["resource.instanceType"]


def test_prune_drops_unknown_fields_but_keeps_preserved_and_resource_fields() -> None:
    obj = valid_workspace()
    obj["metadata"]["labels"] = {"x": "y"}
    obj["resource"]["labelSelector"]["anything"] = {"goes": True}
    obj["resource"]["typo"] = 1
    obj["inference"]["adapters"][0]["extra"] = "drop me"
    obj["spec"] = {"whole": "subtree"}
    pruned, removed = prune_with_report(WORKSPACE, obj)
    assert pruned["metadata"] == {"name": "w", "labels": {"x": "y"}}
    assert pruned["resource"]["labelSelector"]["anything"] == {"goes": True}
    assert "typo" not in pruned["resource"]
    assert pruned["inference"]["adapters"][0] == {"name": "a"}
    assert "spec" not in pruned
    assert sorted(removed) == ["inference.adapters[0].extra", "resource.typo", "spec"]
    assert obj["resource"]["typo"] == 1  # the input is not modified


def test_prune_embedded_resource_keeps_type_and_metadata() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        },
    }
    obj = {
        "template": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"x": 1},
            "junk": 1,
        }
    }
    assert prune(schema, obj) == {
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    }


def test_defaults_fill_absent_fields_including_array_items_and_maps() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "resource": {
                "type": "object",
                "default": {},
                "properties": {"count": {"type": "integer", "default": 1}},
            },
            "adapters": WORKSPACE["properties"]["inference"]["properties"]["adapters"],
            "byName": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"weight": {"type": "string", "default": "1.0"}},
                },
            },
            "method": {"type": "string", "default": "lora"},
            "keep": {"type": "string", "nullable": True, "default": "d"},
        },
    }
    obj: dict[str, Any] = {
        "adapters": [{"name": "a"}, {"name": "b", "strength": "0.5"}],
        "byName": {"x": {}},
        "keep": None,
    }
    assert apply_defaults(schema, obj) == {
        "resource": {"count": 1},
        "adapters": [{"name": "a", "strength": "1.0"}, {"name": "b", "strength": "0.5"}],
        "byName": {"x": {"weight": "1.0"}},
        "method": "lora",
        "keep": None,
    }
    assert apply_defaults(schema, {"method": None}) == {
        "resource": {"count": 1},
        "method": "lora",
        "keep": "d",
    }
    assert obj == {
        "adapters": [{"name": "a"}, {"name": "b", "strength": "0.5"}],
        "byName": {"x": {}},
        "keep": None,
    }


def test_non_nullable_null_without_default_is_dropped_by_defaulting() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert apply_defaults(schema, {"a": None}) == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["resource", "inference", "labels", "port", "zz"]), json_values))
def test_validation_never_raises_and_pruning_is_idempotent(obj: dict[str, Any]) -> None:
    errors = validate(WORKSPACE, obj)
    assert all(isinstance(error, FieldError) and error.message() for error in errors)
    once = prune(WORKSPACE, obj)
    assert prune(WORKSPACE, once) == once
    defaulted = apply_defaults(WORKSPACE, once)
    assert apply_defaults(WORKSPACE, defaulted) == defaulted


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2024-01-02T03:04:05Z", "2024-01-02"),
        ("date", "2024-01-02", "2024-13-02"),
        ("byte", "aGVsbG8=", "not base64!"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "nope"),
        ("ipv4", "10.0.0.1", "10.0.0.300"),
        ("cidr", "10.0.0.0/8", "10.0.0.0"),
        ("hostname", "svc.ns.svc", "-bad-"),
    ],
)
def test_string_formats(fmt: str, good: str, bad: str) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"v": {"type": "string", "format": fmt}}}
    assert validate(schema, {"v": good}) == []
    assert [e.field for e in validate(schema, {"v": bad})] == ["v"]
    assert (
        validate(
            {"type": "object", "properties": {"v": {"type": "string", "format": "unknown-x"}}}, {"v": bad}
        )
        == []
    )


def test_metadata_is_left_to_the_server_except_name_constraints() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}
        },
    }
    assert validate(schema, {"metadata": {"name": "short", "labels": {"any": "thing"}}}) == []
    assert [e.field for e in validate(schema, {"metadata": {"name": "much-too-long"}})] == ["metadata.name"]
    assert (
        validate({"type": "object", "properties": {"metadata": {"type": "object"}}}, {"metadata": {"x": 1}})
        == []
    )
