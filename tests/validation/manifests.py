"""Seed Workspaces for the validation and webhook tests, and helpers to change one field of a copy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*/*.yaml"))

Manifest = dict[str, Any]


def load(name: str) -> Manifest:
    path = next(p for p in EXAMPLES if p.name == name)
    loaded: Manifest = yaml.safe_load(path.read_text())
    return loaded


def inference() -> Manifest:
    return load("kaito_workspace_phi_3.yaml")


def adapters() -> Manifest:
    return load("kaito_workspace_phi_3_with_adapters.yaml")


def tuning() -> Manifest:
    return load("kaito_workspace_tuning_phi_3.yaml")


def custom_template() -> Manifest:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "custom"},
        "resource": {"count": 1, "labelSelector": {"matchLabels": {"apps": "custom"}}},
        "inference": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }


def tuning_volumes() -> Manifest:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "tune-volume"},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"a": "b"}},
        },
        "tuning": {
            "preset": {"name": "phi-3-mini-4k-instruct"},
            "method": "lora",
            "config": "tuning-params",
            "input": {"volumeSource": {"persistentVolumeClaim": {"claimName": "data"}}},
            "output": {"volumeSource": {"emptyDir": {}}},
        },
    }


SEEDS = [inference(), adapters(), tuning(), custom_template(), tuning_volumes()]


def _walk(obj: Any, path: str) -> tuple[Any, str | int]:
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        obj = obj[part]
    return obj, parts[-1]


def changed(base: Manifest, path: str, value: Any) -> Manifest:
    """A copy of `base` with the dotted `path` (list indexes as numbers) set to `value`."""
    result = copy.deepcopy(base)
    parent, last = _walk(result, path)
    parent[last] = value
    return result


def removed(base: Manifest, path: str) -> Manifest:
    """A copy of `base` without the dotted `path`."""
    result = copy.deepcopy(base)
    parent, last = _walk(result, path)
    del parent[last]
    return result
