"""Weights shipped as an OCI artifact (files under `/data`), pulled with kaito's registry client, cached."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

import structlog

from kaito.oci.auth import AuthError, Keychain
from kaito.oci.client import RegistryClient, RegistryError
from kaito.oci.image import pull_files
from kaito.oci.layers import LayerError
from kaito.oci.reference import InvalidReferenceError, parse_reference
from kaito.weights.cache import disk_full, ensure_space, intact_files, model_dir, sha256_of
from kaito.weights.errors import ModelAccessDenied, ModelNotFound, WeightsSourceError
from kaito.weights.manifest import CacheManifest, WeightFile, read_manifest, write_manifest
from kaito.weights.progress import Progress
from kaito.weights.request import FetchResult, WeightsRequest

log = structlog.get_logger(__name__)
POLL_S = 0.5


def _tree_size(root: Path) -> int:
    if not root.exists():
        return 0
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def _describe(root: Path) -> list[WeightFile]:
    return [
        WeightFile(
            path=path.relative_to(root).as_posix(),
            size=path.stat().st_size,
            sha256=sha256_of(path).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".kaito-")
    ]


def _swap_in(staging: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.replace(target)


async def _watch(staging: Path, progress: Progress) -> None:
    """Pulled files appear under `staging` as they unpack; report their growth."""
    seen = 0
    while True:
        await asyncio.sleep(POLL_S)
        size = await asyncio.to_thread(_tree_size, staging)
        if size > seen:
            progress.tick(size - seen)
            seen = size


async def fetch_image(request: WeightsRequest, progress: Progress) -> FetchResult:
    """Pull `request.image` into the cache unless the cache already holds its exact layers, intact."""
    assert request.image is not None
    try:
        image = parse_reference(request.image)
    except InvalidReferenceError as err:
        raise ModelNotFound(f"weights image {request.image!r} is not a valid reference: {err}") from err
    secrets = ", ".join(str(path) for path in request.pull_secrets) or "no imagePullSecrets"
    keychain = await asyncio.to_thread(Keychain.from_files, request.pull_secrets)
    target = model_dir(request.cache_dir, "oci", f"{image.registry}/{image.repository}", image.reference)
    compressed = 0
    async with RegistryClient(keychain, plain_http=request.plain_http) as client:
        try:
            manifest = await client.get_manifest(image)
            layers = "".join(layer.digest for layer in manifest.layers)
            identity = "sha256:" + hashlib.sha256(layers.encode()).hexdigest()
            cached = await read_manifest(target)
            if cached is not None and cached.revision == identity:
                intact = await intact_files(target, cached.files, full=request.verify == "full")
                if len(intact) == len(cached.files):
                    log.info("weights cache hit", image=request.image, dir=str(target))
                    progress.start(cached.total_bytes, cached.total_bytes)
                    progress.finish()
                    return FetchResult(target, cached, bytes_transferred=0, from_cache=True)
                log.warning("weights cache damaged: pulling again", image=request.image)
            compressed = sum(layer.size for layer in manifest.layers)
            # The blob and its unpacked files coexist briefly: room for both.
            await asyncio.to_thread(request.cache_dir.mkdir, parents=True, exist_ok=True)
            ensure_space(request.cache_dir, 2 * compressed, request.free_space)
            progress.start(compressed, 0)
            staging = target.with_name(target.name + ".pulling")
            await asyncio.to_thread(shutil.rmtree, staging, True)
            watcher = asyncio.create_task(_watch(staging, progress))
            try:
                await pull_files(client, image, staging)
            finally:
                watcher.cancel()
        except AuthError as err:
            raise ModelAccessDenied(
                f"the registry refused to serve weights image {request.image} with the credentials from "
                f"{secrets}: {err}; add an imagePullSecret for {image.registry}"
            ) from err
        except RegistryError as err:
            if "not found" in str(err):
                raise ModelNotFound(f"weights image {request.image} does not exist: {err}") from err
            raise WeightsSourceError(f"cannot pull weights image {request.image}: {err}") from err
        except LayerError as err:
            raise WeightsSourceError(f"weights image {request.image} has an unreadable layer: {err}") from err
        except OSError as err:
            full = disk_full(err, request.cache_dir, compressed)
            if full is not None:
                raise full from err
            raise WeightsSourceError(f"cannot store weights image {request.image}: {err}") from err
    files = await asyncio.to_thread(_describe, staging)
    if not files:
        raise ModelNotFound(f"weights image {request.image} holds no files under /data")
    await asyncio.to_thread(_swap_in, staging, target)
    result = CacheManifest(source="oci", location=request.image, revision=identity, files=files)
    await write_manifest(target, result)
    progress.total = result.total_bytes
    progress.finish()
    return FetchResult(target, result, bytes_transferred=compressed, from_cache=False)
