"""Weights from an OCI artifact (a real registry with Basic auth) and from a local path."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.oci.auth import Credentials, DockerAuthEntry, DockerConfig, Keychain
from kaito.oci.client import RegistryClient
from kaito.oci.image import push_directory
from kaito.oci.reference import parse_reference
from kaito.weights import InsufficientDisk, ModelAccessDenied, ModelNotFound, fetch_weights
from serving.registry import HTPASSWD_BINARY, MISSING_REASON, REGISTRY_BINARY, RunningRegistry, start_registry

from .conftest import RequestFactory
from .hub_emulator import tiny_model_files, write_files

USER, PASSWORD = "weights", "s3cret"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if REGISTRY_BINARY is None or HTPASSWD_BINARY is None:
        pytest.skip(MISSING_REASON)
    running = start_registry(tmp_path_factory.mktemp("weights-registry"), USER, PASSWORD)
    yield running
    running.stop()


def pull_secret(root: Path, host: str, password: str = PASSWORD) -> Path:
    """A mounted kubernetes.io/dockerconfigjson Secret: a directory holding `.dockerconfigjson`."""
    root.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    (root / ".dockerconfigjson").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return root


async def push_model(registry: RunningRegistry, source: Path, tag: str) -> str:
    keychain = Keychain(
        [DockerConfig(auths={registry.host: DockerAuthEntry(username=USER, password=PASSWORD)})]
    )
    assert keychain.lookup(parse_reference(f"{registry.host}/x")) == Credentials(USER, PASSWORD)
    reference = f"{registry.host}/models/tiny:{tag}"
    async with RegistryClient(keychain) as client:
        await push_directory(client, parse_reference(reference), source)
    return reference


async def test_oci_weights_are_pulled_once_and_verified(
    registry: RunningRegistry, make_request: RequestFactory, tmp_path: Path
) -> None:
    files = tiny_model_files(seed=3)
    image = await push_model(registry, write_files(tmp_path / "model", files), "v1")
    secret = pull_secret(tmp_path / "secret", registry.host)
    first = await fetch_weights(make_request(image=image, pull_secrets=[secret]))
    assert not first.from_cache
    assert first.manifest.source == "oci"
    for path, data in files.items():
        assert (first.model_dir / path).read_bytes() == data
    again = await fetch_weights(make_request(image=image, pull_secrets=[secret]))
    assert again.from_cache
    assert again.bytes_transferred == 0
    weights = first.model_dir / "model.safetensors"
    damaged = bytearray(weights.read_bytes())
    damaged[1000] ^= 0x01
    weights.write_bytes(bytes(damaged))
    repaired = await fetch_weights(make_request(image=image, pull_secrets=[secret]))
    assert not repaired.from_cache
    assert weights.read_bytes() == files["model.safetensors"]


async def test_oci_errors_are_typed(
    registry: RunningRegistry, make_request: RequestFactory, tmp_path: Path
) -> None:
    image = await push_model(registry, write_files(tmp_path / "model", tiny_model_files()), "v2")
    wrong = pull_secret(tmp_path / "wrong", registry.host, password="nope")
    with pytest.raises(ModelAccessDenied, match=re.escape(str(wrong))):
        await fetch_weights(make_request(image=image, pull_secrets=[wrong]))
    right = pull_secret(tmp_path / "right", registry.host)
    with pytest.raises(ModelNotFound, match="does not exist"):
        await fetch_weights(make_request(image=f"{registry.host}/models/tiny:absent", pull_secrets=[right]))
    with pytest.raises(InsufficientDisk):
        await fetch_weights(make_request(image=image, pull_secrets=[right], free_space=lambda _path: 10))


async def test_local_weights_are_used_in_place(make_request: RequestFactory, tmp_path: Path) -> None:
    local = write_files(tmp_path / "node-models" / "tiny", tiny_model_files())
    result = await fetch_weights(make_request(local=local))
    assert result.model_dir == local
    assert result.from_cache
    assert {file.path for file in result.manifest.files} == set(tiny_model_files())
    with pytest.raises(ModelNotFound, match="use-local-weights"):
        await fetch_weights(make_request(local=tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match=r"no config\.json"):
        await fetch_weights(make_request(local=tmp_path / "empty"))
