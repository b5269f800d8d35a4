"""Tuning fixtures: the tiny model, tiny datasets in every accepted format, and real OCI registries.

Tests marked `tuning` are skipped when torch, transformers or peft are not importable (the `tuning` extra).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

TUNING_AVAILABLE = all(
    importlib.util.find_spec(name) is not None for name in ("torch", "transformers", "peft")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TUNING_AVAILABLE:
        return
    skip = pytest.mark.skip(reason="torch/transformers/peft are not importable: install the `tuning` extra")
    for item in items:
        if item.get_closest_marker("tuning") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared, loaded machine OpenMP workers spinning for cores make a tiny
    model's training steps some 20x slower."""
    if not TUNING_AVAILABLE:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kaito.serving.tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
