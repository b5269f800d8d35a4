"""The on-disk cache: where a model's files live, whether they are intact, and whether more of them fit."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from kaito.api.weights import model_dir as model_dir  # the path rule, shared with the reconciler
from kaito.weights.errors import InsufficientDisk, gib
from kaito.weights.manifest import WeightFile

FreeSpaceProbe = Callable[[Path], int]
PARTIAL_SUFFIX = ".partial"


def free_space(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def safe_target(root: Path, relative: str) -> Path:
    """`root/relative`, refusing paths that would leave `root` (a hostile file listing)."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise ValueError(f"refusing file path {relative!r} outside the model directory")
    return root.joinpath(*parts)


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + PARTIAL_SUFFIX)


def sha256_of(path: Path, limit: int | None = None) -> hashlib._Hash:
    """A sha256 hasher fed with the file's first `limit` bytes (all of it when None). Blocking."""
    hasher = hashlib.sha256()
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            chunk = handle.read(1 << 22 if remaining is None else min(1 << 22, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return hasher


def _intact(path: Path, expected: WeightFile, full: bool) -> bool:
    try:
        if path.stat().st_size != expected.size:
            return False
    except OSError:
        return False
    if expected.sha256 is None:
        return False  # nothing to trust it by: fetch it again (only small non-LFS files lack a hash)
    return not full or sha256_of(path).hexdigest() == expected.sha256


async def intact_files(
    root: Path, expected: Iterable[WeightFile], *, full: bool = True, parallel: int = 4
) -> set[str]:
    """The paths of `expected` present in `root` with the right size (and sha256 when `full`)."""
    gate = asyncio.Semaphore(parallel)

    async def check(file: WeightFile) -> str | None:
        async with gate:
            ok = await asyncio.to_thread(_intact, safe_target(root, file.path), file, full)
        return file.path if ok else None

    results = await asyncio.gather(*(check(file) for file in expected))
    return {path for path in results if path is not None}


def partial_bytes(root: Path, files: Iterable[WeightFile]) -> int:
    """Bytes already sitting in `*.partial` files of `files` (they are resumed, not fetched again)."""
    total = 0
    for file in files:
        try:
            size = partial_path(safe_target(root, file.path)).stat().st_size
        except OSError:
            continue
        total += size if size <= file.size else 0
    return total


def ensure_space(where: Path, needed: int, probe: FreeSpaceProbe = free_space) -> None:
    """Raise InsufficientDisk unless `needed` more bytes fit where the cache lives."""
    available = probe(where)
    if needed > available:
        raise InsufficientDisk(
            f"the weights cache at {where} needs {gib(needed)} ({needed} bytes) more but only "
            f"{gib(available)} ({available} bytes) is free; give the workspace a larger weights volume "
            "or a node with a larger disk",
            needed_bytes=needed,
            free_bytes=available,
        )


def disk_full(err: OSError, where: Path, needed: int) -> InsufficientDisk | None:
    """The InsufficientDisk for an ENOSPC/EDQUOT raised while writing, else None."""
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    try:
        available = free_space(where)
    except OSError:
        available = 0
    return InsufficientDisk(
        f"the disk holding {where} filled up while writing weights ({gib(needed)} still needed, "
        f"{gib(available)} free); give the workspace a larger weights volume",
        needed_bytes=needed,
        free_bytes=available,
    )
