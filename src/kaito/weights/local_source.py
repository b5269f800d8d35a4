"""Weights already on the node or a mounted volume: checked and described, never copied."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kaito.weights.errors import ModelNotFound
from kaito.weights.manifest import CacheManifest, WeightFile
from kaito.weights.progress import Progress
from kaito.weights.request import FetchResult

_SKIP_SUFFIXES = (".partial", ".tmp")


def _describe(root: Path) -> list[WeightFile]:
    return [
        WeightFile(path=path.relative_to(root).as_posix(), size=path.stat().st_size)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".kaito-") and not path.name.endswith(_SKIP_SUFFIXES)
    ]


async def use_local(path: Path, progress: Progress) -> FetchResult:
    """The model directory at `path` as it is; ModelNotFound when it is missing or empty."""
    if not await asyncio.to_thread(path.is_dir):
        raise ModelNotFound(
            f"local weights path {path} does not exist or is not a directory on this node; mount the "
            "volume holding the model there or remove the kaito.sh/use-local-weights annotation"
        )
    files = await asyncio.to_thread(_describe, path)
    if not any(file.path == "config.json" for file in files):
        raise ModelNotFound(f"local weights path {path} holds no config.json: it is not a model directory")
    manifest = CacheManifest(source="local", location=str(path), revision="local", files=files)
    progress.start(manifest.total_bytes, manifest.total_bytes)
    progress.finish()
    return FetchResult(model_dir=path, manifest=manifest, bytes_transferred=0, from_cache=True)
