"""Reading and writing the desired-adapters file (the ConfigMap projection the reconciler keeps current)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from kaito.api.adapters import DesiredAdapters


class DesiredFileError(ValueError):
    """The desired-adapters file is unreadable or malformed."""


def read_desired(path: Path) -> DesiredAdapters:
    """A missing file means no adapters; a malformed one is an error (the previous list stays in force)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return DesiredAdapters()
    except OSError as err:
        raise DesiredFileError(f"{path}: {err.strerror}") from err
    try:
        data = yaml.safe_load(text) or {}
        return DesiredAdapters.model_validate(data)
    except (yaml.YAMLError, ValidationError) as err:
        raise DesiredFileError(f"{path}: {err}") from err


def write_desired(path: Path, desired: DesiredAdapters) -> None:
    """Atomically replace the desired file (what a ConfigMap projection does with its symlink swap)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(yaml.safe_dump(desired.model_dump(mode="json", by_alias=True), sort_keys=False))
    scratch.replace(path)
