"""`fetch_weights`: get a model into the cache once (hub, OCI image or local path) and say where it is."""

from __future__ import annotations

import asyncio

import structlog

from kaito.weights.cache import ensure_space, intact_files, model_dir, partial_bytes, safe_target
from kaito.weights.errors import ModelNotFound, WeightsError
from kaito.weights.hub import HubClient, HubUnreachable
from kaito.weights.local_source import use_local
from kaito.weights.manifest import CacheManifest, WeightFile, read_manifest, remove_manifest, write_manifest
from kaito.weights.oci_source import fetch_image
from kaito.weights.progress import PROGRESS_NAME, Progress, weights_metrics
from kaito.weights.request import FetchResult, WeightsRequest

log = structlog.get_logger(__name__)


async def fetch_weights(request: WeightsRequest) -> FetchResult:
    """Make the requested weights present and verified in `request.cache_dir`; WeightsError on failure.

    The status file `<cache_dir>/.kaito-progress.json` and the `kaito_weights_*` gauges follow along.
    """
    progress = Progress(
        model=request.label,
        status_file=request.cache_dir / PROGRESS_NAME,
        metrics=weights_metrics(request.metrics_registry),
        interval=request.progress_interval,
    )
    try:
        if request.local is not None:
            result = await use_local(request.local, progress)
        elif request.image:
            result = await fetch_image(request, progress)
        elif request.repo:
            result = await _fetch_from_hub(request, progress)
        else:
            raise ModelNotFound(
                "no weights source: give a preset, a hub repository, an image or a local path"
            )
    except WeightsError as err:
        progress.fail(err.termination_message())
        raise
    log.info(
        "weights ready",
        model=request.label,
        dir=str(result.model_dir),
        bytes=result.manifest.total_bytes,
        transferred=result.bytes_transferred,
        from_cache=result.from_cache,
    )
    return result


async def _cached_only(request: WeightsRequest, progress: Progress, err: HubUnreachable) -> FetchResult:
    """The hub is unreachable: a complete, intact cache of the revision still serves."""
    assert request.repo is not None
    target = model_dir(request.cache_dir, "hub", request.repo, request.revision)
    cached = await read_manifest(target)
    full = request.verify == "full"
    if cached is None or len(await intact_files(target, cached.files, full=full)) != len(cached.files):
        raise err
    log.warning("model hub unreachable: using the cached weights", repo=request.repo, error=str(err))
    progress.start(cached.total_bytes, cached.total_bytes)
    progress.finish()
    return FetchResult(target, cached, bytes_transferred=0, from_cache=True)


def _expected(listed: list[WeightFile], cached: CacheManifest | None, commit: str | None) -> list[WeightFile]:
    """The listing, with the sha256 we recorded for non-LFS files when the cache is of the same commit."""
    if cached is None or commit is None or cached.commit != commit:
        return listed
    known = {file.path: file for file in cached.files}
    merged = []
    for file in listed:
        previous = known.get(file.path)
        if file.sha256 is None and previous is not None and previous.size == file.size:
            file = previous
        merged.append(file)
    return merged


async def _fetch_from_hub(request: WeightsRequest, progress: Progress) -> FetchResult:
    assert request.repo is not None
    repo, revision = request.repo, request.revision
    async with HubClient(
        request.hub_endpoint,
        request.token,
        secret=request.token_secret,
        retries=request.retries,
        retry_delay=request.retry_delay,
    ) as hub:
        try:
            commit, listed = await hub.listing(repo, revision)
        except HubUnreachable as err:
            return await _cached_only(request, progress, err)
        target = model_dir(request.cache_dir, "hub", repo, revision)
        for file in listed:
            safe_target(target, file.path)  # refuse a hostile listing before writing anything
        cached = await read_manifest(target)
        expected = _expected(listed, cached, commit)
        progress.verifying(sum(file.size for file in expected))
        full = request.verify == "full"
        intact = await intact_files(target, expected, full=full, parallel=request.parallel)
        missing = [file for file in expected if file.path not in intact]
        total = sum(file.size for file in expected)
        if not missing and cached is not None:
            log.info("weights cache hit", repo=repo, revision=revision, dir=str(target))
            progress.start(total, total)
            progress.finish()
            manifest = cached.model_copy(update={"files": expected, "commit": commit})
            return FetchResult(target, manifest, bytes_transferred=0, from_cache=True)
        if cached is not None:
            log.warning("weights cache incomplete or damaged", repo=repo, refetch=[f.path for f in missing])
            await remove_manifest(target)
        resumable = await asyncio.to_thread(partial_bytes, target, missing)
        needed = sum(file.size for file in missing) - resumable
        await asyncio.to_thread(request.cache_dir.mkdir, parents=True, exist_ok=True)
        ensure_space(request.cache_dir, needed, request.free_space)
        progress.start(total, total - needed)
        progress.report()
        # Download against the resolved commit so every file comes from one snapshot.
        pinned = commit or revision
        gate = asyncio.Semaphore(request.parallel)

        async def one(file: WeightFile) -> WeightFile:
            async with gate:
                digest = await hub.download(repo, pinned, file, safe_target(target, file.path), progress)
            return file.model_copy(update={"sha256": digest})

        fetched = {file.path: file for file in await asyncio.gather(*(one(file) for file in missing))}
    files = [fetched.get(file.path, file) for file in expected]
    manifest = CacheManifest(source="hub", location=repo, revision=revision, commit=commit, files=files)
    await write_manifest(target, manifest)
    progress.finish()
    return FetchResult(target, manifest, bytes_transferred=progress.transferred, from_cache=False)
