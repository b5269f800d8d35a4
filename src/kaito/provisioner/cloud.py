"""The cloud-provider interface the NodeClaim reconciler drives, the instances it returns, its errors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from kaito.api.nodeclaim import NodeClaim


class InstanceState(StrEnum):
    """Lifecycle of one cloud instance (an AKS agent pool, a simulated node)."""

    CREATING = "Creating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"
    UPDATING = "Updating"


class InstanceError(BaseModel):
    """Why the cloud says an instance failed, as the cloud spells it."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Instance(BaseModel):
    """What a provider knows about the cloud side of one NodeClaim; `name` equals the NodeClaim's name."""

    model_config = ConfigDict(frozen=True)

    name: str
    instance_type: str
    state: InstanceState
    # The NodeClaim that owns it, from the ownership tag; None when the tag is missing.
    nodeclaim: str | None = None
    created_at: datetime | None = None
    provider_id: str | None = None
    error: InstanceError | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def is_ready(self) -> bool:
        return self.state is InstanceState.SUCCEEDED


class CloudError(Exception):
    """A provider failure with the cloud's error code, a message a person can act on, and whether to retry."""

    def __init__(self, code: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class InvalidNodeClaimError(CloudError):
    """The NodeClaim cannot be turned into an instance as written (bad name, no instance type...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=False)


class InstanceNotFoundError(CloudError):
    """The instance does not exist (anymore)."""

    def __init__(self, name: str) -> None:
        super().__init__("NotFound", f"instance {name!r} does not exist", retryable=False)


@runtime_checkable
class CloudProvider(Protocol):
    """Creates, reads, lists and deletes the instances behind kaito's NodeClaims.

    Every method is idempotent and safe to call again after a process restart: `create` adopts an
    instance that already exists (waiting for one still being created) instead of creating a second.
    """

    name: str

    async def create(self, nodeclaim: NodeClaim) -> Instance:
        """Create (or adopt) the instance for a NodeClaim and wait until it succeeds; raise CloudError."""
        ...

    async def get(self, name: str) -> Instance | None:
        """The instance of that name, or None when there is none."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the instance and wait until it is gone; nothing to do when it does not exist."""
        ...

    async def list(self) -> list[Instance]:
        """Every instance kaito owns (by ownership tag), whether or not a NodeClaim still wants it."""
        ...

    async def close(self) -> None:
        """Release connections and credentials."""
        ...
