"""Where fetched model weights land: the path rule shared by `kaito weights fetch` and the reconciler.

The init container writes a model to `model_dir(cache, ...)`; the inference pod's RuntimeConfig names the same
directory, so both sides compute it with this one function.
"""

from __future__ import annotations

import re
from pathlib import PurePath, PurePosixPath
from typing import Final, TypeVar

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

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
PathT = TypeVar("PathT", bound=PurePath)


def model_dir(cache_dir: PathT, kind: str, location: str, revision: str) -> PathT:
    """The directory one model at one revision is cached in, e.g. `<cache>/hub/microsoft--phi-4/main`."""
    name = _UNSAFE.sub("-", location.replace("/", "--")).strip("-.") or "model"
    return cache_dir / kind / name / (_UNSAFE.sub("-", revision).strip("-.") or "default")


def hub_model_dir(repo: str, revision: str, cache_dir: str = WEIGHTS_CACHE_DIR) -> str:
    """The directory `kaito weights fetch --preset/--repo` leaves a hub model in, as a POSIX string."""
    return str(model_dir(PurePosixPath(cache_dir), "hub", repo, revision))
