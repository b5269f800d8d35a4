"""The adapter documents shared by the reconciler and `kaito serve`: the desired list (a projected ConfigMap)
and the per-adapter status the serving process publishes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kaito.api.workspace import DNS1123_SUBDOMAIN, STRENGTH_PATTERN


class _Shape(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class DesiredAdapter(_Shape):
    """One adapter to serve: an OCI image (files under /data) or a directory on a mounted volume."""

    name: str = Field(pattern=DNS1123_SUBDOMAIN, max_length=253)
    image: str | None = None
    path: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    strength: str = Field(default="1.0", pattern=STRENGTH_PATTERN)

    @model_validator(mode="after")
    def _one_source(self) -> DesiredAdapter:
        if (self.image is None) == (self.path is None):
            raise ValueError(f"adapter {self.name!r}: set exactly one of `image` or `path`")
        return self

    @property
    def strength_value(self) -> float:
        return float(self.strength)

    @property
    def source(self) -> str:
        return self.image or self.path or ""


class DesiredAdapters(_Shape):
    """The whole file: the adapters the pod should be serving right now."""

    adapters: list[DesiredAdapter] = Field(default_factory=list)

    @field_validator("adapters")
    @classmethod
    def _unique(cls, adapters: list[DesiredAdapter]) -> list[DesiredAdapter]:
        names = [a.name for a in adapters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"adapter names must be unique; repeated: {', '.join(duplicates)}")
        return adapters


class AdapterState(StrEnum):
    PENDING = "Pending"
    LOADED = "Loaded"
    FAILED = "Failed"


class AdapterStatus(_Shape):
    """What became of one desired adapter, for Workspace status."""

    name: str
    source: str
    strength: str
    state: AdapterState
    reason: str = ""
    message: str = ""
    last_transition_time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    load_seconds: float | None = None


class AdaptersReport(_Shape):
    """The body of GET /v1/kaito/adapters and of the status file."""

    model: str
    adapters: list[AdapterStatus] = Field(default_factory=list)
    desired_file_error: str = ""
    observed_time: datetime = Field(default_factory=lambda: datetime.now(UTC))
