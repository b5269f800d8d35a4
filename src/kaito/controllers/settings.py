"""Manager configuration from flags and KAITO_* environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ManagerSettings(BaseSettings):
    """Everything the manager needs; init arguments (flags) override the environment."""

    model_config = SettingsConfigDict(env_prefix="KAITO_", extra="ignore", populate_by_name=True)

    kubeconfig: Path | None = Field(
        default=None, validation_alias=AliasChoices("kubeconfig", "KAITO_KUBECONFIG")
    )
    """A kubeconfig file; unset means in-cluster config, falling back to ~/.kube/config."""
    context: str | None = None
    leader_elect: bool = True
    lease_namespace: str = "kaito-system"
    lease_name: str = "kaito-operator"
    lease_duration: float = Field(default=15.0, gt=0)
    renew_deadline: float = Field(default=10.0, gt=0)
    retry_period: float = Field(default=2.0, gt=0)
    identity: str = Field(default="", validation_alias=AliasChoices("identity", "KAITO_IDENTITY", "POD_NAME"))
    bind_address: str = "0.0.0.0:8080"
    """Where /healthz, /readyz and /metrics are served (port 0 picks a free port)."""
    workers: int = Field(default=4, ge=1)
    log_level: str = "info"
    shutdown_timeout: float = Field(default=30.0, ge=0)
    """How long SIGTERM waits for in-flight reconciles before cancelling them."""
    resync_period: float | None = None
    sync_timeout: float = Field(default=120.0, gt=0)
