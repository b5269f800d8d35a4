"""Model weight delivery, caching and progress for inference and tuning pods.

`fetch_weights(WeightsRequest(...))` puts a model in a cache directory (from the hub, an OCI image or a
local path) once, verifies it, and reports progress; failures are typed `WeightsError`s with a reason.
"""

from kaito.weights.errors import (
    InsufficientDisk,
    ModelAccessDenied,
    ModelNotFound,
    WeightsCorrupted,
    WeightsError,
    WeightsSourceError,
)
from kaito.weights.fetch import fetch_weights
from kaito.weights.manifest import MANIFEST_NAME, CacheManifest, WeightFile
from kaito.weights.progress import PROGRESS_NAME, read_status, startup_budget_seconds, summary_line
from kaito.weights.request import FetchResult, WeightsRequest, read_token

__all__ = [
    "MANIFEST_NAME",
    "PROGRESS_NAME",
    "CacheManifest",
    "FetchResult",
    "InsufficientDisk",
    "ModelAccessDenied",
    "ModelNotFound",
    "WeightFile",
    "WeightsCorrupted",
    "WeightsError",
    "WeightsRequest",
    "WeightsSourceError",
    "fetch_weights",
    "read_status",
    "read_token",
    "startup_budget_seconds",
    "summary_line",
]
