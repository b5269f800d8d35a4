"""End to end: `kaito tune` trains and pushes an adapter image; the serving adapter manager's stager pulls it
as `inference.adapters[].source.image`, accepts it, and the staged adapter carries what was learned."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from kaito.api.adapters import DesiredAdapter
from kaito.cli.main import main
from kaito.serving.adapter_stage import AdapterStager
from serving.registry import RunningRegistry, free_port

from .adapter_check import mean_loss
from .data_files import write_docker_secret, write_job_config, write_jsonl_chat, write_user_config

pytestmark = pytest.mark.tuning


def test_tune_push_then_serve_the_adapter(
    tmp_path: Path, tiny_model: Path, auth_registry: RunningRegistry, capfd: pytest.CaptureFixture[str]
) -> None:
    registry = auth_registry
    data = tmp_path / "mnt-data"
    data.mkdir()
    write_jsonl_chat(data)
    config = write_job_config(tmp_path / "config.yaml", tiny_model, data, tmp_path / "mnt-output")
    user = write_user_config(tmp_path / "cm", {"TrainingArguments": {"max_steps": 6, "learning_rate": 0.02}})
    secret = write_docker_secret(
        tmp_path / "push-secret", registry.host, registry.username, registry.password
    )
    image = f"{registry.host}/adapters/tiny-tuned:0.0.1"
    metrics_port = free_port()
    command = ["tune", "--config", str(config), "--user-config", str(user), "--push", image,
               "--push-secret", str(secret), "--metrics-port", str(metrics_port)]  # fmt: skip
    code = main(command)
    logs = capfd.readouterr().err
    assert code == 0, logs[-3000:]
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    assert "kaito_tuning_completed 1.0" in metrics
    assert "kaito_tuning_step 6.0" in metrics
    assert '"event": "pushed adapter image"' in logs
    assert '"event": "training progress"' in logs

    pull_secrets = tmp_path / "pull-secrets"
    write_docker_secret(pull_secrets / "regcred", registry.host, registry.username, registry.password)
    stager = AdapterStager(tmp_path / "staged", pull_secrets, max_rank=16, plain_http=frozenset())
    staged = asyncio.run(
        stager.stage(DesiredAdapter(name="tiny-tuned", image=image, image_pull_secrets=["regcred"]))
    )
    assert (staged / "adapter_model.safetensors").is_file()
    base = mean_loss(tiny_model, None, data)
    tuned = mean_loss(tiny_model, staged, data)
    assert tuned < base, f"served adapter loss {tuned:.4f} is not below the base model's {base:.4f}"
