"""Pydantic shapes of webhook configurations and of AdmissionReview (admission.k8s.io/v1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ServiceReference(_Model):
    """``clientConfig.service``: the in-cluster Service that fronts the webhook."""

    namespace: str
    name: str
    path: str | None = None
    port: int = 443


class WebhookClientConfig(_Model):
    """Where to send the review: a URL, or a Service; ``caBundle`` is base64 PEM."""

    url: str | None = None
    service: ServiceReference | None = None
    ca_bundle: str | None = Field(default=None, alias="caBundle")


class RuleWithOperations(_Model):
    """One ``rules[]`` entry."""

    operations: list[str] = Field(default_factory=list)
    api_groups: list[str] = Field(default_factory=list, alias="apiGroups")
    api_versions: list[str] = Field(default_factory=list, alias="apiVersions")
    resources: list[str] = Field(default_factory=list)
    scope: str = "*"


class MatchCondition(_Model):
    """A CEL precondition for calling the webhook."""

    name: str
    expression: str


class Webhook(_Model):
    """One webhook of a Mutating/ValidatingWebhookConfiguration."""

    name: str
    client_config: WebhookClientConfig = Field(alias="clientConfig")
    rules: list[RuleWithOperations] = Field(default_factory=list)
    failure_policy: Literal["Fail", "Ignore"] = Field(default="Fail", alias="failurePolicy")
    namespace_selector: dict[str, Any] | None = Field(default=None, alias="namespaceSelector")
    object_selector: dict[str, Any] | None = Field(default=None, alias="objectSelector")
    side_effects: str = Field(default="None", alias="sideEffects")
    timeout_seconds: int = Field(default=10, alias="timeoutSeconds", ge=1, le=30)
    admission_review_versions: list[str] = Field(
        default_factory=lambda: ["v1"], alias="admissionReviewVersions"
    )
    match_conditions: list[MatchCondition] = Field(default_factory=list, alias="matchConditions")
    reinvocation_policy: Literal["Never", "IfNeeded"] = Field(default="Never", alias="reinvocationPolicy")


class WebhookConfiguration(_Model):
    """A MutatingWebhookConfiguration or ValidatingWebhookConfiguration object."""

    kind: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    webhooks: list[Webhook] = Field(default_factory=list)

    @property
    def name(self) -> str:
        """``metadata.name`` (configurations run in name order)."""
        return str(self.metadata.get("name", ""))


class ResponseStatus(_Model):
    """The ``status`` a webhook gives when it denies."""

    code: int | None = None
    message: str = ""
    reason: str = ""


class AdmissionResponse(_Model):
    """``response`` of an AdmissionReview."""

    uid: str
    allowed: bool
    status: ResponseStatus | None = None
    patch: str | None = None
    patch_type: str | None = Field(default=None, alias="patchType")
    warnings: list[str] = Field(default_factory=list)


class AdmissionReviewReply(_Model):
    """The AdmissionReview a webhook sends back."""

    api_version: str = Field(alias="apiVersion")
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse
