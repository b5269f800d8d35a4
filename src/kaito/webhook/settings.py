"""Configuration of the admission webhook, from flags or `KAITO_WEBHOOK_*` environment variables.

| setting | environment | default |
|---|---|---|
| host / port | `KAITO_WEBHOOK_HOST` / `KAITO_WEBHOOK_PORT` | `0.0.0.0` / 9443 |
| service_namespace | `KAITO_WEBHOOK_SERVICE_NAMESPACE` or `POD_NAMESPACE` | `kaito-system` |
| service_name / service_port | `KAITO_WEBHOOK_SERVICE_NAME` / `..._SERVICE_PORT` | `kaito-webhook` / 443 |
| secret_name | `KAITO_WEBHOOK_SECRET_NAME` | `kaito-webhook-cert` (in service_namespace) |
| cert_dir | `KAITO_WEBHOOK_CERT_DIR` | unset: generate a CA and keep it in the Secret |
| url_host | `KAITO_WEBHOOK_URL_HOST` | unset: called through the Service; set: `https://<url_host>:<port>` |
| register | `KAITO_WEBHOOK_REGISTER` | true: create/patch the webhook configurations with our caBundle |
| namespace_selector | `KAITO_WEBHOOK_NAMESPACE_SELECTOR` (JSON) | `{}`: every namespace |
| renew_before_days / cert_validity_days / ca_validity_days | `KAITO_WEBHOOK_*` | 30 / 365 / 3650 |
| check_interval_s | `KAITO_WEBHOOK_CHECK_INTERVAL_S` | 300: how often the certificate is re-checked |
| allow_private_urls | `KAITO_WEBHOOK_ALLOW_PRIVATE_URLS` | false (local mode: true) |
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaito.webhook.certs import CertPolicy
from kaito.webhook.registration import Registration


class WebhookSettings(BaseSettings):
    """Everything the webhook component needs; see the module docstring for names and defaults."""

    model_config = SettingsConfigDict(env_prefix="KAITO_WEBHOOK_", extra="ignore", populate_by_name=True)

    host: str = "0.0.0.0"
    port: int = Field(default=9443, ge=0, le=65535)
    service_namespace: str = Field(
        default="kaito-system",
        validation_alias=AliasChoices(
            "service_namespace", "KAITO_WEBHOOK_SERVICE_NAMESPACE", "POD_NAMESPACE"
        ),
    )
    service_name: str = "kaito-webhook"
    service_port: int = Field(default=443, ge=1, le=65535)
    secret_name: str = "kaito-webhook-cert"
    cert_dir: Path | None = None
    url_host: str | None = None
    register_configs: bool = Field(
        default=True, validation_alias=AliasChoices("register_configs", "KAITO_WEBHOOK_REGISTER")
    )
    validating_name: str = "kaito-workspace-validation"
    mutating_name: str = "kaito-workspace-defaulting"
    namespace_selector: dict[str, Any] = Field(default_factory=dict)
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    extra_hosts: list[str] = Field(default_factory=list)
    renew_before_days: float = Field(default=30.0, gt=0)
    cert_validity_days: float = Field(default=365.0, gt=0)
    ca_validity_days: float = Field(default=3650.0, gt=0)
    check_interval_s: float = Field(default=300.0, gt=0)
    allow_private_urls: bool = False
    lookup_timeout_s: float = Field(default=5.0, gt=0)

    def cert_policy(self) -> CertPolicy:
        return CertPolicy(
            ca_validity=datetime.timedelta(days=self.ca_validity_days),
            cert_validity=datetime.timedelta(days=self.cert_validity_days),
            renew_before=datetime.timedelta(days=self.renew_before_days),
        )

    def hosts(self) -> list[str]:
        """Names the serving certificate covers: the Service's DNS names, localhost, and any extra."""
        service = f"{self.service_name}.{self.service_namespace}.svc"
        names = [service, f"{service}.cluster.local", "localhost", "127.0.0.1", "::1"]
        if self.url_host:
            names.append(self.url_host)
        return list(dict.fromkeys([*names, *self.extra_hosts]))

    def registration(self, port: int) -> Registration:
        """The configurations to register; `port` is where this process actually listens."""
        url_base = f"https://{_bracketed(self.url_host)}:{port}" if self.url_host else None
        return Registration(
            validating_name=self.validating_name,
            mutating_name=self.mutating_name,
            service_namespace=self.service_namespace,
            service_name=self.service_name,
            service_port=self.service_port,
            url_base=url_base,
            namespace_selector=self.namespace_selector,
            failure_policy=self.failure_policy,
        )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
