"""Fetching from the hub: cold and warm cache, resume after a drop, corruption, access and disk errors."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from kaito.weights import (
    MANIFEST_NAME,
    PROGRESS_NAME,
    InsufficientDisk,
    ModelAccessDenied,
    ModelNotFound,
    WeightsSourceError,
    fetch_weights,
)
from kaito.weights import hub as hub_module

from .conftest import COMMIT, GATED_REPO, GATED_TOKEN, PUBLIC_REPO, RequestFactory
from .hub_emulator import HubEmulator


def model_size(hub: HubEmulator, repo: str = PUBLIC_REPO) -> int:
    return sum(len(data) for data in hub.repos[repo].files.values())


async def test_cold_download_fills_the_cache_and_writes_a_manifest(
    hub: HubEmulator, make_request: RequestFactory
) -> None:
    result = await fetch_weights(make_request())
    files = hub.repos[PUBLIC_REPO].files
    assert not result.from_cache
    assert result.bytes_transferred == hub.counters.bytes_served == model_size(hub)
    for path, data in files.items():
        assert (result.model_dir / path).read_bytes() == data
    assert not list(result.model_dir.glob("*.partial"))
    manifest = json.loads((result.model_dir / MANIFEST_NAME).read_text())
    assert manifest["revision"] == "main"
    assert manifest["commit"] == COMMIT
    assert {entry["path"]: entry["size"] for entry in manifest["files"]} == {
        p: len(d) for p, d in files.items()
    }
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])
    status = json.loads((result.model_dir.parents[2] / PROGRESS_NAME).read_text())
    assert status["phase"] == "ready"
    assert status["bytesDone"] == status["bytesTotal"] == model_size(hub)


async def test_warm_cache_transfers_nothing(hub: HubEmulator, make_request: RequestFactory) -> None:
    first = await fetch_weights(make_request())
    served, requests = hub.counters.bytes_served, hub.counters.resolve_requests
    again = await fetch_weights(make_request())
    assert again.from_cache
    assert again.model_dir == first.model_dir
    assert (hub.counters.bytes_served, hub.counters.resolve_requests) == (served, requests)
    pinned = await fetch_weights(make_request(revision="v1"))  # another name for the same commit: own dir
    assert pinned.manifest.commit == COMMIT


async def test_dropped_connection_resumes_with_range(hub: HubEmulator, make_request: RequestFactory) -> None:
    hub.drop_after = 600_000  # the first file body is cut after 600 kB
    result = await fetch_weights(make_request(parallel=1))
    assert not result.from_cache
    assert hub.counters.range_requests >= 1
    size = model_size(hub)
    assert size <= hub.counters.bytes_served <= size + 256 * 1024  # resumed, not restarted
    for path, data in hub.repos[PUBLIC_REPO].files.items():
        assert (result.model_dir / path).read_bytes() == data


async def test_a_new_process_resumes_the_partial_file(hub: HubEmulator, make_request: RequestFactory) -> None:
    hub.drop_after = 700_000
    with pytest.raises(WeightsSourceError, match="failed 1 times"):
        await fetch_weights(make_request(parallel=1, retries=0))
    partials = list((make_request().cache_dir).rglob("*.partial"))
    assert len(partials) == 1
    assert partials[0].stat().st_size > 0
    served_before = hub.counters.bytes_served
    result = await fetch_weights(make_request(parallel=1, retries=0))
    assert hub.counters.range_requests == 1
    assert hub.counters.bytes_served - served_before < model_size(hub)  # the partial's bytes were kept
    assert (result.model_dir / "model.safetensors").read_bytes() == hub.repos[PUBLIC_REPO].files[
        "model.safetensors"
    ]


@pytest.mark.parametrize("victim", ["model.safetensors", "config.json"])
async def test_a_flipped_byte_is_detected_and_refetched(
    hub: HubEmulator, make_request: RequestFactory, victim: str
) -> None:
    first = await fetch_weights(make_request())
    path = first.model_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    served = hub.counters.bytes_served
    again = await fetch_weights(make_request())
    assert not again.from_cache
    assert hub.counters.bytes_served - served == len(data)  # only the damaged file came again
    assert path.read_bytes() == hub.repos[PUBLIC_REPO].files[victim]


async def test_size_only_verification_trusts_same_size_files(
    hub: HubEmulator, make_request: RequestFactory
) -> None:
    first = await fetch_weights(make_request())
    (first.model_dir / "model.safetensors").unlink()
    served = hub.counters.bytes_served
    await fetch_weights(make_request(verify="size"))
    assert hub.counters.bytes_served - served == len(hub.repos[PUBLIC_REPO].files["model.safetensors"])
    assert (await fetch_weights(make_request(verify="size"))).from_cache


async def test_gated_repo_needs_the_right_token(hub: HubEmulator, make_request: RequestFactory) -> None:
    with pytest.raises(ModelAccessDenied, match="modelAccessSecret") as missing:
        await fetch_weights(make_request(repo=GATED_REPO))
    assert missing.value.reason == "ModelAccessDenied"
    assert missing.value.exit_code == 21
    with pytest.raises(ModelAccessDenied, match="Secret 'hf-secret'") as wrong:
        await fetch_weights(make_request(repo=GATED_REPO, token="hf_wrong", token_secret="hf-secret"))
    assert "401" in wrong.value.message
    result = await fetch_weights(make_request(repo=GATED_REPO, token=GATED_TOKEN))
    assert (result.model_dir / "config.json").is_file()


async def test_unknown_repo_or_revision_is_model_not_found(make_request: RequestFactory) -> None:
    with pytest.raises(ModelNotFound, match="RepoNotFound"):
        await fetch_weights(make_request(repo="kaito-test/no-such-model"))
    with pytest.raises(ModelNotFound, match="revision 'v9'"):
        await fetch_weights(make_request(revision="v9"))


async def test_too_little_disk_fails_before_downloading(
    hub: HubEmulator, make_request: RequestFactory
) -> None:
    request = make_request(free_space=lambda _path: 1_000_000)
    with pytest.raises(InsufficientDisk) as raised:
        await fetch_weights(request)
    assert raised.value.needed_bytes == model_size(hub)
    assert raised.value.free_bytes == 1_000_000
    assert "1000000 bytes" in raised.value.message
    assert hub.counters.bytes_served == 0
    status = json.loads((request.cache_dir / PROGRESS_NAME).read_text())
    assert status["phase"] == "failed"
    assert status["message"].startswith("InsufficientDisk:")


async def test_disk_full_while_writing_is_insufficient_disk(
    make_request: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hub_module, "_write_and_hash", full)
    with pytest.raises(InsufficientDisk, match="filled up"):
        await fetch_weights(make_request())


async def test_unreachable_hub_falls_back_to_an_intact_cache(
    hub: HubEmulator, make_request: RequestFactory, tmp_path: Path
) -> None:
    await fetch_weights(make_request())
    url = hub.url
    await hub.stop()
    result = await fetch_weights(make_request(hub_endpoint=url))
    assert result.from_cache
    with pytest.raises(WeightsSourceError, match="cannot reach"):
        await fetch_weights(make_request(hub_endpoint=url, cache_dir=tmp_path / "empty"))
