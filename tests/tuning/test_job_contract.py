"""The tuning Job the workspace reconciler builds, run as its pod would run: every container command parses
as `kaito tune`, and with each mount mapped to a local directory the init container fetches the data,
the main container trains on it and pushes the adapter image with the mounted push secret."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito.api.tuning_job import JobConfig
from kaito.api.workspace import Workspace
from kaito.cli.main import build_parser, main
from kaito.oci.auth import Keychain
from kaito.oci.client import RegistryClient
from kaito.oci.image import pull_files, push_directory
from kaito.oci.reference import parse_reference
from kaito.presets import get_preset, get_sku, plan_tuning
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.tuning import CONFIG_KEY, tuning_config, tuning_job
from serving.registry import RunningRegistry

from .data_files import write_csv_instructions, write_docker_secret

PRESET = "phi-3-mini-4k-instruct"
_KNOWN_PARAMETERS = ("workspace", "plan", "settings")


def _workspace(tuning: dict[str, Any]) -> Workspace:
    return Workspace.model_validate(
        {"apiVersion": "kaito.sh/v1alpha1", "kind": "Workspace",
         "metadata": {"name": "tune-phi", "namespace": "default"},
         "resource": {"instanceType": "Standard_NC24ads_A100_v4",
                      "labelSelector": {"matchLabels": {"a": "b"}}},
         "tuning": {"preset": {"name": PRESET}, **tuning}}
    )  # fmt: skip


def _job(workspace: Workspace) -> tuple[dict[str, Any], dict[str, Any]]:
    assert workspace.tuning is not None
    preset = get_preset(PRESET)
    plan = plan_tuning(preset, get_sku("Standard_NC24ads_A100_v4"), workspace.tuning.method.value)
    # The reconciler (another room, still moving) may take the nodes to place on; none pinned here.
    extra = {name: () for name in inspect.signature(tuning_job).parameters if name not in _KNOWN_PARAMETERS}
    job = tuning_job(workspace=workspace, plan=plan, settings=WorkspaceSettings(), **extra)
    # The document as the ConfigMap carries it.
    return job, tuning_config(workspace, preset, plan).model_dump(mode="json", by_alias=True)


def test_every_container_command_is_a_kaito_tune_invocation() -> None:
    workspace = _workspace(
        {"method": "qlora", "config": "my-tuning", "input": {"urls": ["https://data.example.com/train.parquet"]},
         "output": {"image": "myregistry.azurecr.io/adapters/phi-3:0.0.1", "imagePushSecret": "push"}}
    )  # fmt: skip
    job, config = _job(workspace)
    pod = job["spec"]["template"]["spec"]
    parser = build_parser()
    fetch = parser.parse_args(pod["initContainers"][0]["command"][1:])
    assert (fetch.tune_action, fetch.urls) == ("fetch", ["https://data.example.com/train.parquet"])
    tune_container = pod["containers"][0]
    tune = parser.parse_args(tune_container["command"][1:])
    assert tune.tune_action is None
    assert tune.push == "myregistry.azurecr.io/adapters/phi-3:0.0.1"
    mounts = {m["mountPath"]: m["name"] for m in tune_container["volumeMounts"]}
    assert mounts[str(tune.config.parent)] == "config"
    assert mounts[str(tune.user_config)] == "user-config"
    assert mounts[str(tune.push_secret)] == "push-secret"  # the CLI's default is where the Secret is mounted
    job_config = JobConfig.model_validate(config)
    assert mounts[str(job_config.data_dir)] == "data"
    assert mounts[str(job_config.output_dir)] == "output"
    assert (job_config.method, job_config.model.name) == ("qlora", PRESET)
    assert str(fetch.output) == str(job_config.data_dir)


@pytest.mark.tuning
def test_the_job_runs_fetch_train_push_with_its_mounts(
    tmp_path: Path, tiny_model: Path, auth_registry: RunningRegistry
) -> None:
    registry = auth_registry
    data_image = f"{registry.host}/datasets/facts:1"
    output_image = f"{registry.host}/adapters/phi-tuned:0.0.1"
    workspace = _workspace(
        {"config": "my-tuning", "input": {"image": data_image, "imagePullSecrets": ["regcred"]},
         "output": {"image": output_image, "imagePushSecret": "push"}}
    )  # fmt: skip
    job, config = _job(workspace)
    pod = job["spec"]["template"]["spec"]
    # The pod's file system, rooted under tmp_path: each volume where its containers mount it.
    root = tmp_path / "pod"
    local: dict[str, Path] = {}
    for container in [*pod["initContainers"], *pod["containers"]]:
        for mount in container["volumeMounts"]:
            local[mount["name"]] = root / mount["mountPath"].lstrip("/")
            local[mount["name"]].mkdir(parents=True, exist_ok=True)
    volumes = {v["name"]: v for v in pod["volumes"]}
    # What the kubelet would project: the job config (pointing at the tiny model, as the image cannot
    # download the preset offline), the user's ConfigMap and the two dockerconfigjson Secrets.
    config["model"]["path"] = str(tiny_model)
    write_docker_secret(local["push-secret"], registry.host, registry.username, registry.password)
    pull_volume = next(n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == "regcred")
    write_docker_secret(local[pull_volume], registry.host, registry.username, registry.password)
    (local["user-config"] / "training_config.yaml").write_text(
        yaml.safe_dump({"training_config": {"TrainingArguments": {"max_steps": 3, "learning_rate": 0.02}}})
    )
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    write_csv_instructions(dataset)

    async def publish_data() -> None:
        async with RegistryClient(Keychain.from_files([local[pull_volume]])) as client:
            await push_directory(client, parse_reference(data_image), dataset)

    asyncio.run(publish_data())

    def in_pod(path: str) -> str:
        return str(root / path.lstrip("/"))

    config["dataDir"] = in_pod(config["dataDir"])
    config["outputDir"] = in_pod(config["outputDir"])
    (local["config"] / CONFIG_KEY).write_text(yaml.safe_dump(config))
    for container in [*pod["initContainers"], *pod["containers"]]:
        command = [in_pod(arg) if arg.startswith("/") else arg for arg in container["command"][1:]]
        # The CLI's defaults are the mount paths; in this file system they move under the root too.
        if command[:2] == ["tune", "fetch"]:
            command += ["--pull-secrets", in_pod("/etc/kaito/pull-secrets")]
        else:
            command += ["--push-secret", in_pod("/etc/kaito/push-secret"), "--metrics-port", "0"]
        assert main(command) == 0, f"{container['name']}: {command}"

    async def pull_adapter() -> list[str]:
        async with RegistryClient(Keychain.from_files([local["push-secret"]])) as client:
            return await pull_files(client, parse_reference(output_image), tmp_path / "pulled")

    files = asyncio.run(pull_adapter())
    assert {"adapter_config.json", "adapter_model.safetensors", "kaito-tuning-complete.json"} <= set(files)
