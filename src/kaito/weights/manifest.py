"""The shapes weights are described by: the hub's file listing, and the cache manifest beside the files."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_NAME = ".kaito-manifest.json"

SourceKind = Literal["hub", "oci", "local"]


class WeightFile(BaseModel):
    """One file of a model: its path relative to the model directory, size, and sha256 when known."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    size: int = Field(ge=0)
    sha256: str | None = None


class CacheManifest(BaseModel):
    """Written after every file is in place and verified; its presence marks a complete cache entry."""

    model_config = ConfigDict(extra="forbid")
    source: SourceKind
    # hub: the repository; oci: the image reference; local: the path.
    location: str
    # hub: the requested revision; oci: the manifest digest.
    revision: str
    # hub: the commit the revision resolved to, when the hub said.
    commit: str | None = None
    files: list[WeightFile]
    completed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)


def _read(path: Path) -> CacheManifest | None:
    try:
        return CacheManifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


async def read_manifest(model_dir: Path) -> CacheManifest | None:
    """The cache manifest of `model_dir`, or None when absent or unreadable (treated as no cache)."""
    return await asyncio.to_thread(_read, model_dir / MANIFEST_NAME)


def _write(path: Path, body: str) -> None:
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(body)
    scratch.replace(path)


async def write_manifest(model_dir: Path, manifest: CacheManifest) -> None:
    await asyncio.to_thread(_write, model_dir / MANIFEST_NAME, manifest.model_dump_json(indent=2))


async def remove_manifest(model_dir: Path) -> None:
    await asyncio.to_thread((model_dir / MANIFEST_NAME).unlink, True)


class HubLfs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    oid: str
    size: int


class HubTreeEntry(BaseModel):
    """One entry of `GET /api/models/{repo}/tree/{revision}`."""

    model_config = ConfigDict(extra="ignore")
    type: str
    path: str
    size: int = 0
    oid: str | None = None
    lfs: HubLfs | None = None

    def weight_file(self) -> WeightFile:
        # Only LFS files carry a sha256; plain git files (configs, tokenizers) are checked by size
        # on download and by the sha256 we record once they are in the cache.
        return WeightFile(
            path=self.path,
            size=self.lfs.size if self.lfs else self.size,
            sha256=self.lfs.oid if self.lfs else None,
        )


class HubSibling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rfilename: str


class HubModelInfo(BaseModel):
    """`GET /api/models/{repo}/revision/{revision}`: the commit and the file names."""

    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    sha: str | None = None
    gated: bool | str = False
    siblings: list[HubSibling] = Field(default_factory=list)
