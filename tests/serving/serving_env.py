"""Shapes the serving fixtures hand to tests: the tiny model's files and the running `kaito serve`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class TinyAssets:
    model: Path
    adapter_a: Path
    adapter_b: Path
    adapter_rank32: Path


@dataclass(frozen=True)
class ServeProcess:
    """The session's `kaito serve`: where it listens and the files the reconciler would manage."""

    base_url: str
    model: str
    desired_file: Path
    adapters_dir: Path
    pull_secrets_dir: Path
    log: Path

    def write_desired(self, adapters: list[dict[str, object]]) -> None:
        scratch = self.desired_file.with_name(".desired.tmp")
        scratch.write_text(yaml.safe_dump({"adapters": adapters}))
        scratch.replace(self.desired_file)
