"""AdmissionReview (admission.k8s.io/v1): the request the API server sends and the response we answer."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ADMISSION_API_VERSION = "admission.k8s.io/v1"
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class _Shape(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class GroupVersionKind(_Shape):
    group: str = ""
    version: str = ""
    kind: str = ""


class GroupVersionResource(_Shape):
    group: str = ""
    version: str = ""
    resource: str = ""


class UserInfo(_Shape):
    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)


class AdmissionRequest(_Shape):
    """What the API server asks about: one operation on one object (and its previous version on update)."""

    uid: str = Field(min_length=1)
    kind: GroupVersionKind = Field(default_factory=GroupVersionKind)
    resource: GroupVersionResource = Field(default_factory=GroupVersionResource)
    sub_resource: str = ""
    name: str = ""
    namespace: str = ""
    operation: Operation
    user_info: UserInfo = Field(default_factory=UserInfo)
    object: Any = None
    old_object: Any = None
    dry_run: bool = False


class AdmissionReview(_Shape):
    """The envelope the API server POSTs."""

    api_version: str = ADMISSION_API_VERSION
    kind: Literal["AdmissionReview"] = "AdmissionReview"
    request: AdmissionRequest


class StatusCause(_Shape):
    """One field problem inside a denial, as kubectl and clients read it."""

    type: str
    field: str
    message: str


class StatusDetails(_Shape):
    causes: list[StatusCause] = Field(default_factory=list)


class ResponseStatus(_Shape):
    """metav1.Status as carried by a denial: the code, a machine reason, and the person's message."""

    code: int
    reason: str
    message: str
    details: StatusDetails | None = None


class AdmissionResponse(_Shape):
    """Our answer: allowed or not (and why), maybe a JSONPatch, maybe warnings."""

    uid: str
    allowed: bool
    status: ResponseStatus | None = None
    patch: str | None = None
    patch_type: Literal["JSONPatch"] | None = None
    warnings: list[str] = Field(default_factory=list)

    def with_patch(self, ops: list[dict[str, Any]]) -> AdmissionResponse:
        """Attach JSONPatch operations, base64-encoded as the API expects; no ops leaves it unpatched."""
        if not ops:
            return self
        encoded = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode("ascii")
        return self.model_copy(update={"patch": encoded, "patch_type": "JSONPatch"})


class AdmissionReviewResponse(_Shape):
    api_version: str = ADMISSION_API_VERSION
    kind: Literal["AdmissionReview"] = "AdmissionReview"
    response: AdmissionResponse

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def allow(uid: str, warnings: list[str] | None = None) -> AdmissionResponse:
    return AdmissionResponse(uid=uid, allowed=True, warnings=warnings or [])


def deny(
    uid: str, code: int, reason: str, message: str, causes: list[StatusCause] | None = None
) -> AdmissionResponse:
    details = StatusDetails(causes=causes) if causes else None
    status = ResponseStatus(code=code, reason=reason, message=message, details=details)
    return AdmissionResponse(uid=uid, allowed=False, status=status)
