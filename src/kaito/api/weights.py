"""What `kaito weights fetch` and the reconciler agree on: where weights land and the progress log line.

The init container writes a model to `model_dir(cache, ...)`; the inference pod's RuntimeConfig names the same
directory, so both sides compute it with this one function. The init container's JSON progress lines
(`WeightsProgress`) are what the reconciler reads from its log to show the download in the Workspace status.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath, PurePosixPath
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The cache volume's mount point in inference pods (also HF_HOME there).
WEIGHTS_CACHE_DIR: Final = "/workspace/weights"
# The inference pod's init container that runs `kaito weights fetch`.
WEIGHTS_CONTAINER: Final = "weights"
# Reasons `kaito weights fetch` writes as `<Reason>: <text>` to its termination message.
WEIGHTS_FAILURE_REASONS: Final = frozenset(
    {
        "ModelAccessDenied",
        "ModelNotFound",
        "InsufficientDisk",
        "WeightsCorrupted",
        "WeightsSourceError",
        "WeightsDownloadFailed",
        "InvalidArguments",
    }
)

# The `event` of the init container's progress log lines.
WEIGHTS_PROGRESS_EVENT: Final = "weights progress"
KIB: Final = 2**10
MIB: Final = 2**20
GIB: Final = 2**30

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
PathT = TypeVar("PathT", bound=PurePath)


def model_dir(cache_dir: PathT, kind: str, location: str, revision: str) -> PathT:
    """The directory one model at one revision is cached in, e.g. `<cache>/hub/microsoft--phi-4/main`."""
    name = _UNSAFE.sub("-", location.replace("/", "--")).strip("-.") or "model"
    return cache_dir / kind / name / (_UNSAFE.sub("-", revision).strip("-.") or "default")


def hub_model_dir(repo: str, revision: str, cache_dir: str = WEIGHTS_CACHE_DIR) -> str:
    """The directory `kaito weights fetch --preset/--repo` leaves a hub model in, as a POSIX string."""
    return str(model_dir(PurePosixPath(cache_dir), "hub", repo, revision))


def _size_unit(total: int) -> tuple[str, int]:
    """The unit amounts of a model of `total` bytes read best in: GiB, MiB below a GiB, KiB below a MiB."""
    if total >= GIB:
        return "GiB", GIB
    return ("MiB", MIB) if total >= MIB else ("KiB", KIB)


def format_rate(rate_bytes_per_s: float) -> str:
    """E.g. `210 MiB/s`, `1.2 GiB/s`, `850 KiB/s`; `stalled` when nothing arrived lately."""
    if rate_bytes_per_s <= 0:
        return "stalled"
    if rate_bytes_per_s >= GIB:
        return f"{rate_bytes_per_s / GIB:.1f} GiB/s"
    if rate_bytes_per_s >= MIB:
        return f"{rate_bytes_per_s / MIB:.0f} MiB/s"
    return f"{rate_bytes_per_s / KIB:.0f} KiB/s"


def progress_summary(done: int, total: int, rate: float | None, phase: str = "downloading") -> str:
    """One line a person reads, e.g. `downloading weights: 3.1/7.1 GiB, 210 MiB/s` (`rate` in bytes/s,
    left out while unknown)."""
    unit, scale = _size_unit(total)
    amounts = f"{done / scale:.1f}/{total / scale:.1f} {unit}"
    if phase == "downloading":
        speed = f", {format_rate(rate)}" if rate is not None else ""
        return f"downloading weights: {amounts}{speed}"
    if phase == "verifying":
        return f"verifying cached weights: {total / scale:.1f} {unit}"
    if phase == "checking":
        return "checking the model's files"
    return f"weights {phase}: {amounts}"


class WeightsProgress(BaseModel):
    """One progress line of `kaito weights fetch` (a JSON log line; other keys such as `level` are ignored).

    `phase`: checking, verifying, downloading, ready or failed. `rate_bytes_per_s` is None until measured.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: Literal["weights progress"] = WEIGHTS_PROGRESS_EVENT
    model: str = ""
    phase: str = "downloading"
    bytes_done: int = Field(default=0, ge=0)
    bytes_total: int = Field(default=0, ge=0)
    rate_bytes_per_s: float | None = Field(default=None, ge=0)

    def summary(self) -> str:
        return progress_summary(self.bytes_done, self.bytes_total, self.rate_bytes_per_s, self.phase)


def parse_progress_line(line: str) -> WeightsProgress | None:
    """The progress a log line reports, or None for any other line (plain text, other JSON, garbage)."""
    if WEIGHTS_PROGRESS_EVENT not in line:  # cheap filter before parsing JSON
        return None
    try:
        loaded = json.loads(line)
    except ValueError:
        return None
    if not isinstance(loaded, dict) or loaded.get("event") != WEIGHTS_PROGRESS_EVENT:
        return None
    try:
        return WeightsProgress.model_validate(loaded)
    except ValidationError:
        return None


def latest_progress(log_text: str) -> WeightsProgress | None:
    """The newest progress line in a piece of log, or None when it has none."""
    for line in reversed(log_text.splitlines()):
        found = parse_progress_line(line)
        if found is not None:
            return found
    return None
