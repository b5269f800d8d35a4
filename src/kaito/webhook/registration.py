"""Registers the webhook with the API server: Validating/MutatingWebhookConfigurations with our caBundle."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog

from kaito.api.constants import GROUP, WORKSPACE_PLURAL
from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.resource import Resource
from kaito.webhook.server import MUTATE_PATH, VALIDATE_PATH

log = structlog.get_logger(__name__)

VALIDATING_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
    namespaced=False,
)  # fmt: skip
MUTATING_CONFIGURATIONS = Resource(
    "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
    namespaced=False,
)  # fmt: skip
VALIDATING_WEBHOOK = "validation.workspace.kaito.sh"
MUTATING_WEBHOOK = "defaulting.workspace.kaito.sh"


@dataclass(frozen=True)
class Registration:
    """Where the API server reaches us and which Workspaces it sends.

    `url_base` (e.g. `https://127.0.0.1:9443`) is used instead of the Service when set (local mode).
    """

    validating_name: str = "kaito-workspace-validation"
    mutating_name: str = "kaito-workspace-defaulting"
    service_namespace: str = "kaito-system"
    service_name: str = "kaito-webhook"
    service_port: int = 443
    url_base: str | None = None
    namespace_selector: dict[str, Any] = field(default_factory=dict)
    failure_policy: str = "Fail"
    timeout_seconds: int = 10

    def client_config(self, path: str, ca_bundle: bytes) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.url_base:
            config["url"] = self.url_base.rstrip("/") + path
        else:
            config["service"] = {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "port": self.service_port,
                "path": path,
            }
        if ca_bundle:
            config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
        return config

    def webhook(self, name: str, path: str, ca_bundle: bytes, *, mutating: bool) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": name,
            "clientConfig": self.client_config(path, ca_bundle),
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "apiVersions": ["*"],
                    "resources": [WORKSPACE_PLURAL],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced",
                }
            ],
            "failurePolicy": self.failure_policy,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": self.timeout_seconds,
            "matchPolicy": "Equivalent",
            "namespaceSelector": self.namespace_selector,
            "objectSelector": {},
        }
        if mutating:
            hook["reinvocationPolicy"] = "Never"
        return hook

    def validating(self, ca_bundle: bytes) -> dict[str, Any]:
        return _configuration(
            VALIDATING_CONFIGURATIONS,
            self.validating_name,
            self.webhook(VALIDATING_WEBHOOK, VALIDATE_PATH, ca_bundle, mutating=False),
        )

    def mutating(self, ca_bundle: bytes) -> dict[str, Any]:
        return _configuration(
            MUTATING_CONFIGURATIONS,
            self.mutating_name,
            self.webhook(MUTATING_WEBHOOK, MUTATE_PATH, ca_bundle, mutating=True),
        )


def _configuration(resource: Resource, name: str, hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kaito"}},
        "webhooks": [hook],
    }


async def register(client: KubeClient, registration: Registration, ca_bundle: bytes) -> None:
    """Create both configurations, or bring their webhooks (caBundle included) up to date."""
    for resource, desired in (
        (MUTATING_CONFIGURATIONS, registration.mutating(ca_bundle)),
        (VALIDATING_CONFIGURATIONS, registration.validating(ca_bundle)),
    ):
        await _create_or_update(client, resource, desired)


async def _create_or_update(client: KubeClient, resource: Resource, desired: dict[str, Any]) -> None:
    name = desired["metadata"]["name"]
    for _ in range(5):
        try:
            current = await client.get(resource, name)
        except NotFoundError:
            try:
                await client.create(resource, desired)
                log.info("registered admission webhook", configuration=name)
                return
            except ConflictError:
                continue
        if _same_webhooks(current.get("webhooks") or [], desired["webhooks"]):
            return
        updated = dict(current)
        updated["webhooks"] = desired["webhooks"]
        try:
            await client.update(resource, updated)
            log.info("updated admission webhook configuration", configuration=name)
            return
        except ConflictError:
            continue
    raise RuntimeError(f"could not update webhook configuration {name} (kept conflicting)")


def _same_webhooks(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> bool:
    """Whether every field we set already has our value (the server may add defaults of its own)."""
    if len(current) != len(desired):
        return False
    return all(
        all(have.get(key) == want for key, want in hook.items())
        for have, hook in zip(current, desired, strict=True)
    )


async def unregister(client: KubeClient, registration: Registration) -> None:
    """Delete both configurations (tests; uninstall). Missing ones are fine."""
    for resource, name in (
        (MUTATING_CONFIGURATIONS, registration.mutating_name),
        (VALIDATING_CONFIGURATIONS, registration.validating_name),
    ):
        with contextlib.suppress(NotFoundError):
            await client.delete(resource, name)
