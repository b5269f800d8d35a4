"""Adapter images against a real registry (Debian's docker-registry): push with annotations naming the base
model, pull back byte for byte, htpasswd auth from a mounted dockerconfigjson, and `input.image` data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.cli.main import main
from kaito.oci.adapter_image import BASE_MODEL_ANNOTATION, METHOD_ANNOTATION
from kaito.oci.client import RegistryClient
from kaito.oci.image import pull_files, push_directory
from kaito.oci.manifest import OCI_CONFIG, OCI_LAYER_TAR_GZIP
from kaito.oci.reference import parse_reference
from kaito.tuning.config import DatasetSection
from kaito.tuning.dataset import load_examples
from kaito.tuning.images import ImageTransferError, push_adapter_image
from serving.registry import RunningRegistry

from .data_files import FACTS, write_csv_instructions, write_docker_secret


def _fake_adapter(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    (directory / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 64)
    (directory / "kaito-tuning-complete.json").write_text("{}")
    return directory


async def test_push_then_pull_round_trips_with_annotations(tmp_path: Path, registry: RunningRegistry) -> None:
    adapter = _fake_adapter(tmp_path / "adapter")
    ref = f"{registry.host}/adapters/phi-3-tuned:0.0.1"
    digest = await push_adapter_image(adapter, ref, None, "phi-3-mini-4k-instruct", "qlora")
    assert digest.startswith("sha256:")
    image = parse_reference(ref)
    async with RegistryClient() as client:
        manifest = await client.get_manifest(image)
        assert manifest.config.media_type == OCI_CONFIG
        assert [layer.media_type for layer in manifest.layers] == [OCI_LAYER_TAR_GZIP]
        assert manifest.annotations is not None
        assert manifest.annotations[BASE_MODEL_ANNOTATION] == "phi-3-mini-4k-instruct"
        assert manifest.annotations[METHOD_ANNOTATION] == "qlora"
        await client.get_blob(image, manifest.config.digest, tmp_path / "config.json")
        config = json.loads((tmp_path / "config.json").read_text())
        assert config["config"]["Labels"][BASE_MODEL_ANNOTATION] == "phi-3-mini-4k-instruct"
        assert len(config["rootfs"]["diff_ids"]) == 1
        files = await pull_files(client, image, tmp_path / "pulled")
    assert files == ["adapter_config.json", "adapter_model.safetensors", "kaito-tuning-complete.json"]
    for name in files:
        assert (tmp_path / "pulled" / name).read_bytes() == (adapter / name).read_bytes()


async def test_htpasswd_registry_needs_the_push_secret(
    tmp_path: Path, auth_registry: RunningRegistry
) -> None:
    adapter = _fake_adapter(tmp_path / "adapter")
    ref = f"{auth_registry.host}/private/adapter:1"
    with pytest.raises(ImageTransferError, match="credentials"):
        await push_adapter_image(adapter, ref, tmp_path / "absent", "m", "lora")
    wrong = write_docker_secret(tmp_path / "wrong", auth_registry.host, auth_registry.username, "nope")
    with pytest.raises(ImageTransferError, match="refused"):
        await push_adapter_image(adapter, ref, wrong, "m", "lora")
    secret = write_docker_secret(
        tmp_path / "secret",
        auth_registry.host,
        auth_registry.username,
        auth_registry.password,
    )
    assert (await push_adapter_image(adapter, ref, secret, "m", "lora")).startswith("sha256:")


def test_push_command_publishes_to_a_registry_or_a_directory(
    tmp_path: Path, auth_registry: RunningRegistry
) -> None:
    adapter = _fake_adapter(tmp_path / "adapter")
    secret = write_docker_secret(
        tmp_path / "secret",
        auth_registry.host,
        auth_registry.username,
        auth_registry.password,
    )
    ref = f"{auth_registry.host}/cli/adapter:2"
    args = ["tune", "push", "--adapter", str(adapter), "--image", ref, "--secret", str(secret)]
    assert main([*args, "--base-model", "falcon-7b"]) == 0
    assert main(["tune", "push", "--adapter", str(adapter), "--to-dir", str(tmp_path / "volume")]) == 0
    assert (tmp_path / "volume" / "adapter_model.safetensors").read_bytes() == (
        adapter / "adapter_model.safetensors"
    ).read_bytes()
    (tmp_path / "empty").mkdir()
    assert main(["tune", "push", "--adapter", str(tmp_path / "empty"), "--to-dir", str(tmp_path / "v2")]) == 1


async def test_fetch_command_pulls_an_input_image_with_pull_secrets(
    tmp_path: Path, auth_registry: RunningRegistry
) -> None:
    registry = auth_registry
    data = tmp_path / "dataset"
    data.mkdir()
    write_csv_instructions(data)
    ref = f"{registry.host}/datasets/facts:1"
    secrets = tmp_path / "pull-secrets"
    write_docker_secret(secrets / "regcred", registry.host, registry.username, registry.password)
    from kaito.oci.auth import Keychain

    keychain = Keychain.from_files([secrets / "regcred"])
    async with RegistryClient(keychain) as client:
        await push_directory(client, parse_reference(ref), data)
    out = tmp_path / "mnt-data"
    import asyncio

    args = ["tune", "fetch", "--output", str(out), "--image", ref, "--pull-secrets", str(secrets)]
    assert await asyncio.to_thread(main, args) == 0
    assert len(load_examples(out, DatasetSection())) == len(FACTS)
    missing = ["tune", "fetch", "--output", str(out), "--image", f"{registry.host}/datasets/none:1"]
    assert await asyncio.to_thread(main, [*missing, "--pull-secrets", str(secrets)]) == 1
