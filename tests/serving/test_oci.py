"""The OCI client against a real registry: references, dockerconfigjson, push/pull, Basic and Bearer auth."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from kaito.oci.auth import AuthError, DockerAuthEntry, DockerConfig, Keychain, parse_challenge
from kaito.oci.client import RegistryClient, RegistryError
from kaito.oci.image import pull_files, push_directory
from kaito.oci.layers import LayerError, extract_prefix
from kaito.oci.reference import DOCKER_HUB, InvalidReferenceError, parse_reference

from .registry import MISSING_REASON, REGISTRY_BINARY, RunningRegistry, free_port, start_registry
from .token_auth import ISSUER, SERVICE, TokenIssuer


@pytest.mark.parametrize(
    ("text", "registry", "repository", "reference"),
    [
        ("ubuntu", DOCKER_HUB, "library/ubuntu", "latest"),
        ("docker.io/me/app:1", DOCKER_HUB, "me/app", "1"),
        ("myacr.azurecr.io/adapters/phi-3:0.0.1", "myacr.azurecr.io", "adapters/phi-3", "0.0.1"),
        ("localhost:5000/a/b", "localhost:5000", "a/b", "latest"),
        ("127.0.0.1:5000/x@sha256:" + "a" * 64, "127.0.0.1:5000", "x", "sha256:" + "a" * 64),
    ],
)
def test_references_resolve_like_docker(text: str, registry: str, repository: str, reference: str) -> None:
    parsed = parse_reference(text)
    assert (parsed.registry, parsed.repository, parsed.reference) == (registry, repository, reference)


@pytest.mark.parametrize("text", ["", "Upper/Case", "a b", "host:5000/x:bad tag", "x@sha256:short", "x:"])
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_keychain_reads_every_dockerconfigjson_form(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"bob:pw").decode()
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / ".dockerconfigjson").write_text(
        json.dumps({"auths": {"https://r1.io/v2/": {"auth": encoded}}})
    )
    (tmp_path / "two.json").write_text(json.dumps({"auths": {"r2.io": {"username": "u", "password": "p"}}}))
    keychain = Keychain.from_files([tmp_path / "one", tmp_path / "two.json", tmp_path / "absent"])
    assert keychain.lookup(parse_reference("r1.io/x")) == keychain.lookup(parse_reference("r1.io/y:2"))
    creds = keychain.lookup(parse_reference("r1.io/x"))
    assert creds is not None
    assert (creds.username, creds.password) == ("bob", "pw")
    creds2 = keychain.lookup(parse_reference("r2.io/x"))
    assert creds2 is not None
    assert creds2.password == "p"
    assert keychain.lookup(parse_reference("r3.io/x")) is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AuthError, match="dockerconfigjson"):
        Keychain.from_files([tmp_path / "bad.json"])
    with pytest.raises(ValueError, match="username:password"):
        DockerAuthEntry(auth=base64.b64encode(b"nocolon").decode()).credentials()


def test_challenges_are_parsed() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a:pull"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.io/token",
        "service": "reg.io",
        "scope": "repository:a:pull",
    }
    assert parse_challenge('Basic realm="x"').scheme == "basic"


def adapter_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text('{"r": 4}')
    (root / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 40)
    return root


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if REGISTRY_BINARY is None:
        pytest.skip(MISSING_REASON)
    running = start_registry(tmp_path_factory.mktemp("oci-plain"))
    yield running
    running.stop()


async def test_push_then_pull_round_trips_the_data_files(
    plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    source = adapter_dir(tmp_path / "src")
    image = parse_reference(f"{plain_registry.host}/adapters/demo:0.0.1")
    async with RegistryClient() as client:
        digest = await push_directory(client, image, source)
        again = await push_directory(client, image, source)  # blobs exist: nothing re-uploaded, same manifest
        files = await pull_files(client, image, tmp_path / "out")
        by_digest = await pull_files(
            client, parse_reference(f"{plain_registry.host}/adapters/demo@{digest}"), tmp_path / "out2"
        )
    assert digest == again
    assert files == by_digest == ["adapter_config.json", "adapter_model.safetensors"]
    assert (tmp_path / "out" / "adapter_model.safetensors").read_bytes() == (
        source / "adapter_model.safetensors"
    ).read_bytes()


async def test_missing_images_are_registry_errors(plain_registry: RunningRegistry, tmp_path: Path) -> None:
    async with RegistryClient() as client:
        with pytest.raises(RegistryError, match="not found"):
            await pull_files(client, parse_reference(f"{plain_registry.host}/adapters/none:1"), tmp_path)


async def test_basic_auth_registry_needs_credentials(tmp_path: Path) -> None:
    if REGISTRY_BINARY is None:
        pytest.skip(MISSING_REASON)
    running = start_registry(tmp_path / "reg", "carol", "pa55")
    try:
        image = parse_reference(f"{running.host}/private/demo:1")
        good = Keychain(
            [DockerConfig(auths={running.host: DockerAuthEntry(username="carol", password="pa55")})]
        )
        bad = Keychain(
            [DockerConfig(auths={running.host: DockerAuthEntry(username="carol", password="nope")})]
        )
        async with RegistryClient(good) as client:
            await push_directory(client, image, adapter_dir(tmp_path / "src"))
            assert await pull_files(client, image, tmp_path / "out")
        async with RegistryClient(bad) as client:
            with pytest.raises(AuthError, match="refused"):
                await pull_files(client, image, tmp_path / "out-bad")
        async with RegistryClient() as client:
            with pytest.raises(AuthError, match="imagePullSecret"):
                await pull_files(client, image, tmp_path / "out-none")
    finally:
        running.stop()


@pytest.fixture
async def token_registry(tmp_path: Path) -> AsyncIterator[tuple[RunningRegistry, TokenIssuer]]:
    if REGISTRY_BINARY is None:
        pytest.skip(MISSING_REASON)
    issuer = TokenIssuer.create({"dave": "t0ken-pw"})
    issuer.write_bundle(tmp_path / "root.pem")
    runner = web.AppRunner(issuer.app())
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    auth = (
        f"auth: {{token: {{realm: 'http://127.0.0.1:{port}/token', service: {SERVICE}, issuer: {ISSUER}, "
        f"rootcertbundle: {tmp_path / 'root.pem'}}}}}"
    )
    running = start_registry(tmp_path / "reg", extra_config=auth)
    try:
        yield running, issuer
    finally:
        running.stop()
        await runner.cleanup()


async def test_bearer_token_auth(token_registry: tuple[RunningRegistry, TokenIssuer], tmp_path: Path) -> None:
    running, issuer = token_registry
    image = parse_reference(f"{running.host}/tokened/demo:1")
    good = Keychain(
        [DockerConfig(auths={running.host: DockerAuthEntry(username="dave", password="t0ken-pw")})]
    )
    async with RegistryClient(good) as client:
        await push_directory(client, image, adapter_dir(tmp_path / "src"))
        assert await pull_files(client, image, tmp_path / "out") == [
            "adapter_config.json",
            "adapter_model.safetensors",
        ]
    assert issuer.issued >= 2  # one token for push scope, one for pull scope
    bad = Keychain([DockerConfig(auths={running.host: DockerAuthEntry(username="dave", password="wrong")})])
    async with RegistryClient(bad) as client:
        with pytest.raises(AuthError, match="token server"):
            await pull_files(client, image, tmp_path / "out-bad")


def test_layers_extract_only_data_and_refuse_escapes(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, body in [
            ("data/adapter_config.json", b"{}"),
            ("etc/passwd", b"x"),
            ("data/sub/w.bin", b"w"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    (tmp_path / "plain.tar").write_bytes(raw.getvalue())
    (tmp_path / "layer.tar.gz").write_bytes(gzip.compress(raw.getvalue()))
    assert extract_prefix(tmp_path / "plain.tar", tmp_path / "o1") == ["adapter_config.json", "sub/w.bin"]
    assert extract_prefix(tmp_path / "layer.tar.gz", tmp_path / "o2") == ["adapter_config.json", "sub/w.bin"]
    assert not (tmp_path / "o1" / "passwd").exists()
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("data/../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "evil.tar").write_bytes(evil.getvalue())
    with pytest.raises(LayerError, match="escapes"):
        extract_prefix(tmp_path / "evil.tar", tmp_path / "o3")
    assert not (tmp_path / "escape").exists()
    (tmp_path / "junk").write_bytes(b"not a tar")
    with pytest.raises(LayerError):
        extract_prefix(tmp_path / "junk", tmp_path / "o4")
