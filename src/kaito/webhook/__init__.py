"""The validating and defaulting admission webhook for Workspaces."""

from kaito.webhook.component import ServingMaterial, WebhookComponent
from kaito.webhook.handler import AdmissionHandler
from kaito.webhook.registration import Registration, register, unregister
from kaito.webhook.server import MUTATE_PATH, VALIDATE_PATH, WebhookServer
from kaito.webhook.settings import WebhookSettings

__all__ = [
    "MUTATE_PATH",
    "VALIDATE_PATH",
    "AdmissionHandler",
    "Registration",
    "ServingMaterial",
    "WebhookComponent",
    "WebhookServer",
    "WebhookSettings",
    "register",
    "unregister",
]
