"""Base model and field types shared by every kaito API shape (camelCase aliases, times, quantities)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """A Kubernetes JSON shape: snake_case in Python, camelCase on the wire, unknown fields rejected.

    Strict about scalar types, as the API server is (`count: "2"` is an error, not 2); enum and time
    fields opt out so they still accept their JSON spellings.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        validate_default=False,
    )

    @classmethod
    def from_kube(cls, obj: Mapping[str, Any]) -> Self:
        """Parse the Kubernetes JSON form (camelCase keys)."""
        return cls.model_validate(obj)

    def to_kube(self) -> dict[str, Any]:
        """The Kubernetes JSON form: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _to_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# metav1.Time: RFC 3339 at second precision, always UTC ("2024-01-02T03:04:05Z").
Time = Annotated[
    datetime,
    Strict(False),
    BeforeValidator(_to_utc),
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _quantity_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a quantity must be a number or a string like '100Gi'")
    if isinstance(value, int | float):
        return str(value)
    return value


# resource.Quantity: accepted as number or string, always held and written as a string ("100Gi", "1").
Quantity = Annotated[
    str,
    BeforeValidator(_quantity_to_str),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

# A nested Kubernetes object kaito passes through without interpreting (PodTemplateSpec, VolumeSource).
Opaque = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


def is_empty(value: Any) -> bool:
    """True for the empty containers/strings that Kubernetes omits from JSON."""
    return not value
