"""What to fetch and where: one request type for the CLI, the serving process and the tuning Job."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from prometheus_client import REGISTRY, CollectorRegistry

from kaito.presets import get_preset
from kaito.weights.cache import FreeSpaceProbe, free_space
from kaito.weights.manifest import CacheManifest

DEFAULT_TOKEN_FILE = Path("/etc/kaito/model-access/HF_TOKEN")
VerifyMode = Literal["full", "size"]


@dataclass
class WeightsRequest:
    """Exactly one source: `local`, else `image`, else the hub `repo` at `revision`."""

    cache_dir: Path
    repo: str | None = None
    revision: str = "main"
    image: str | None = None
    pull_secrets: list[Path] = field(default_factory=list)
    local: Path | None = None
    token: str | None = None
    # The Secret (inference.preset.presetOptions.modelAccessSecret) the token came from, for messages.
    token_secret: str | None = None
    hub_endpoint: str | None = None
    # full: sha256 of every cached file before trusting it; size: sizes only (fast restarts of huge models).
    verify: VerifyMode = "full"
    parallel: int = 4
    retries: int = 5
    retry_delay: float = 0.2
    progress_interval: float = 5.0
    free_space: FreeSpaceProbe = free_space
    metrics_registry: CollectorRegistry = REGISTRY
    plain_http: frozenset[str] = frozenset()

    @classmethod
    def for_preset(cls, name: str, cache_dir: Path, **options: Any) -> WeightsRequest:
        """The hub request for a catalog preset, pinned to the catalog's revision."""
        preset = get_preset(name)
        return replace(cls(cache_dir=cache_dir, repo=preset.hf_repo, revision=preset.revision), **options)

    @property
    def label(self) -> str:
        """The model label on the gauges and in logs."""
        if self.local is not None:
            return str(self.local)
        return self.image or f"{self.repo}@{self.revision}"


def read_token(token_file: Path | None = None) -> str | None:
    """The hub token: `HF_TOKEN` in the environment, else the mounted Secret file, else None."""
    value = os.environ.get("HF_TOKEN", "").strip()
    if value:
        return value
    for path in (token_file, DEFAULT_TOKEN_FILE):
        if path is not None and path.is_file():
            text = path.read_text().strip()
            if text:
                return text
    return None


@dataclass(frozen=True)
class FetchResult:
    """Where the weights are and how they got there."""

    model_dir: Path
    manifest: CacheManifest
    bytes_transferred: int
    from_cache: bool
