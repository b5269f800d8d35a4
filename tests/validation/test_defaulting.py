"""Defaults filled on admission: count, adapter strength, tuning method, runtime annotation."""

from __future__ import annotations

from typing import Any

from kaito.api import Workspace
from kaito.validation import default_workspace, defaulted, validate_workspace

from .manifests import adapters, changed, inference, removed, tuning


def test_inference_defaults() -> None:
    obj = removed(adapters(), "inference.adapters.0.strength")
    ops = default_workspace(obj)
    assert {"op": "add", "path": "/resource/count", "value": 1} in ops
    assert {"op": "add", "path": "/inference/adapters/0/strength", "value": "1.0"} in ops
    assert {"op": "add", "path": "/metadata/annotations", "value": {"kaito.sh/runtime": "vllm"}} in ops
    result = defaulted(obj)
    assert result["inference"]["adapters"][0]["strength"] == "1.0"
    assert Workspace.model_validate(result).runtime == "vllm"
    assert validate_workspace(result) == []


def test_runtime_added_next_to_existing_annotations_with_escaped_pointer() -> None:
    obj = changed(inference(), "metadata.annotations", {"team": "a"})
    ops = default_workspace(obj)
    assert {"op": "add", "path": "/metadata/annotations/kaito.sh~1runtime", "value": "vllm"} in ops
    assert defaulted(obj)["metadata"]["annotations"] == {"team": "a", "kaito.sh/runtime": "vllm"}


def test_present_values_are_kept() -> None:
    obj = changed(
        changed(adapters(), "resource.count", 1), "metadata.annotations", {"kaito.sh/runtime": "transformers"}
    )
    assert default_workspace(obj) == []


def test_tuning_defaults_method_and_no_runtime() -> None:
    obj = removed(tuning(), "tuning.method")
    ops = default_workspace(obj)
    assert {"op": "add", "path": "/tuning/method", "value": "lora"} in ops
    assert not any(op["path"].startswith("/metadata") for op in ops)


def test_malformed_parts_are_left_alone() -> None:
    weird: list[Any] = [None, [], "x", {"resource": [], "inference": {"adapters": "no"}, "metadata": 3}]
    for obj in weird:
        ops = default_workspace(obj)
        assert all(op["path"] != "/inference/adapters/0/strength" for op in ops)
    assert default_workspace({"resource": [], "inference": {"adapters": ["x", {}]}, "metadata": 3}) == [
        {"op": "add", "path": "/inference/adapters/1/strength", "value": "1.0"}
    ]
