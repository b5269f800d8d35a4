"""Opt-in (KAITO_TUNING_SERVE_E2E=1; needs vLLM): the adapter `kaito tune` pushed is hot-loaded by a real
`kaito serve` from `inference.adapters[].source.image` and changes what the tiny model answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from kaito.tuning.runner import TuneOptions, run_tune
from serving.registry import RunningRegistry, free_port

from .data_files import write_job_config, write_jsonl_chat, write_user_config

pytestmark = [
    pytest.mark.tuning,
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("KAITO_TUNING_SERVE_E2E") != "1",
        reason="starts vLLM (minutes on CPU): set KAITO_TUNING_SERVE_E2E=1 to run",
    ),
]
START_TIMEOUT = 300.0


@pytest.fixture
def serve_root(tmp_path: Path, tiny_model: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    config = {
        "model": {"name": "tiny-llama", "path": str(tiny_model)},
        "plan": {"maxModelLen": 512},
        "adapters": {"enabled": True, "maxLoras": 1, "maxCpuLoras": 2, "maxLoraRank": 16,
                     "desiredFile": str(tmp_path / "desired" / "adapters.yaml"),
                     "directory": str(tmp_path / "staged"), "pullSecretsDir": str(tmp_path / "secrets"),
                     "resyncSeconds": 1},
        "server": {"host": "127.0.0.1", "port": port},
        "vllm": {"max-num-seqs": 4},
    }  # fmt: skip
    (tmp_path / "desired").mkdir()
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kaito.cli", "serve", "--config", str(tmp_path / "serve.yaml")],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        yield base_url, tmp_path / "desired" / "adapters.yaml"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _greedy(base_url: str, model: str) -> str:
    response = httpx.post(
        f"{base_url}/v1/completions",
        json={
            "model": model,
            "prompt": "<|user|>\nWhat is 3 plus 3?<|end|>\n",
            "max_tokens": 12,
            "temperature": 0,
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["text"])


def test_served_tuned_adapter(
    tmp_path: Path, tiny_model: Path, registry: RunningRegistry, serve_root: tuple[str, Path]
) -> None:
    base_url, desired = serve_root
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl_chat(data)
    image = f"{registry.host}/adapters/served:0.0.1"
    run_tune(
        TuneOptions(
            config=write_job_config(tmp_path / "job.yaml", tiny_model, data, tmp_path / "out"),
            user_config=write_user_config(
                tmp_path / "cm", {"TrainingArguments": {"max_steps": 8, "learning_rate": 0.05}}
            ),
            push=image,
        )
    )
    desired.write_text(yaml.safe_dump({"adapters": [{"name": "tuned", "image": image}]}))
    deadline = time.monotonic() + 120
    while True:
        models = {m["id"] for m in httpx.get(f"{base_url}/v1/models", timeout=10).json()["data"]}
        if "tuned" in models:
            break
        assert time.monotonic() < deadline, httpx.get(f"{base_url}/v1/kaito/adapters", timeout=10).text
        time.sleep(0.2)
    assert _greedy(base_url, "tuned") != _greedy(base_url, "tiny-llama")
