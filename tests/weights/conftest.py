"""Fixtures for weight delivery: a loopback hub with a public and a gated tiny model, and request builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kaito.weights import WeightsRequest

from .hub_emulator import HubEmulator, HubRepo, tiny_model_files

PUBLIC_REPO = "kaito-test/tiny-model"
GATED_REPO = "kaito-test/gated-model"
GATED_TOKEN = "hf_right_token"
COMMIT = "c0ffee" + "0" * 34

RequestFactory = Callable[..., WeightsRequest]


@pytest.fixture
async def hub() -> AsyncIterator[HubEmulator]:
    emulator = HubEmulator(
        {
            PUBLIC_REPO: HubRepo(tiny_model_files(), revisions={"main": COMMIT, "v1": COMMIT}),
            GATED_REPO: HubRepo(tiny_model_files(seed=9), token=GATED_TOKEN),
        }
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def make_request(hub: HubEmulator, tmp_path: Path) -> RequestFactory:
    """A request for the public repo on the emulator, with a private metrics registry; override freely."""

    def build(**overrides: Any) -> WeightsRequest:
        options: dict[str, Any] = {
            "cache_dir": tmp_path / "cache",
            "repo": PUBLIC_REPO,
            "revision": "main",
            "hub_endpoint": hub.url,
            "metrics_registry": CollectorRegistry(),
            "retry_delay": 0.01,
            "progress_interval": 0.05,
        }
        options.update(overrides)
        return WeightsRequest(**options)

    return build
