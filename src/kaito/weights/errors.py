"""Typed weight-delivery failures: each carries the condition reason, a process exit code and a fix."""

from __future__ import annotations

GIB = 2**30


class WeightsError(RuntimeError):
    """A failure to deliver model weights; `reason` is what the Workspace condition shows."""

    reason = "WeightsDownloadFailed"
    exit_code = 20

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def termination_message(self) -> str:
        """The one line written to the container's termination message path."""
        return f"{self.reason}: {self.message}"


class ModelAccessDenied(WeightsError):
    """The hub refused the token (401/403): missing, wrong, or not granted access to a gated repo."""

    reason = "ModelAccessDenied"
    exit_code = 21


class ModelNotFound(WeightsError):
    """The repository, revision, file or OCI image does not exist."""

    reason = "ModelNotFound"
    exit_code = 22


class InsufficientDisk(WeightsError):
    """The cache volume cannot hold the weights."""

    reason = "InsufficientDisk"
    exit_code = 23

    def __init__(self, message: str, needed_bytes: int, free_bytes: int) -> None:
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes
        super().__init__(message)


class WeightsCorrupted(WeightsError):
    """A file arrived with a different size or sha256 than the source lists, even after a retry."""

    reason = "WeightsCorrupted"
    exit_code = 24


class WeightsSourceError(WeightsError):
    """The source could not be used (server errors, a broken local path, an unreadable image)."""

    reason = "WeightsSourceError"
    exit_code = 25


def gib(size: int) -> str:
    """A byte count as GiB with one decimal, the way people read model sizes."""
    return f"{size / GIB:.1f} GiB"


def access_denied(repo: str, status: int, secret: str | None, had_token: bool) -> ModelAccessDenied:
    """The error for a 401/403 from the hub, naming the Secret the token comes from."""
    if not had_token:
        fix = (
            f"{repo} is gated: set inference.preset.presetOptions.modelAccessSecret to a Secret "
            "holding your Hugging Face token under the key HF_TOKEN"
        )
        return ModelAccessDenied(f"the model hub refused access to {repo} (HTTP {status}); {fix}")
    where = f"Secret {secret!r} (key HF_TOKEN)" if secret else "the configured token"
    return ModelAccessDenied(
        f"the model hub refused the token from {where} for {repo} (HTTP {status}): the token is wrong, "
        "expired, or its account has not been granted access to this gated model"
    )
