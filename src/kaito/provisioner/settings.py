"""Configuration of the node provisioner, read from flags or environment variables.

| setting | environment | default |
|---|---|---|
| provider | `KAITO_PROVISIONER_PROVIDER` | `azure` (`local` for the embedded cluster) |
| azure_subscription_id | `AZURE_SUBSCRIPTION_ID` | required for azure |
| azure_resource_group | `AZURE_RESOURCE_GROUP` | required for azure (the cluster's group, not `MC_...`) |
| azure_cluster_name | `AZURE_CLUSTER_NAME` | required for azure |
| azure_location | `AZURE_LOCATION` or `LOCATION` | `""` (used in messages) |
| azure_endpoint | `KAITO_PROVISIONER_AZURE_ENDPOINT` | public ARM (`https://management.azure.com`) |
| azure_poll_interval_s | `KAITO_PROVISIONER_AZURE_POLL_INTERVAL_S` | 10 |
| local_node_delay_s | `KAITO_PROVISIONER_LOCAL_NODE_DELAY_S` | 2 |
| gc_interval_s / gc_grace_s | `KAITO_PROVISIONER_GC_INTERVAL_S` / `..._GC_GRACE_S` | 60 / 60 |
| retry_base_s / retry_max_s | `KAITO_PROVISIONER_RETRY_BASE_S` / `..._RETRY_MAX_S` | 5 / 300 |
| node_poll_interval_s | `KAITO_PROVISIONER_NODE_POLL_INTERVAL_S` | 5 |
| workers | `KAITO_PROVISIONER_WORKERS` | 4 |
Every setting can also be given as `KAITO_PROVISIONER_<NAME>`.
"""

from __future__ import annotations

import argparse
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderName = Literal["azure", "local"]


def _env(name: str, *aliases: str) -> Any:
    """A string setting read from `KAITO_PROVISIONER_<NAME>` or the usual Azure variable names."""
    return Field(
        default="", validation_alias=AliasChoices(name, f"KAITO_PROVISIONER_{name.upper()}", *aliases)
    )


class ProvisionerSettings(BaseSettings):
    """Which cloud provider to drive and how; see the module docstring for names and defaults."""

    model_config = SettingsConfigDict(env_prefix="KAITO_PROVISIONER_", extra="ignore", populate_by_name=True)

    provider: ProviderName = "azure"
    azure_subscription_id: str = _env("azure_subscription_id", "AZURE_SUBSCRIPTION_ID")
    azure_resource_group: str = _env("azure_resource_group", "AZURE_RESOURCE_GROUP")
    azure_cluster_name: str = _env("azure_cluster_name", "AZURE_CLUSTER_NAME")
    azure_location: str = _env("azure_location", "AZURE_LOCATION", "LOCATION")
    azure_endpoint: str = ""
    azure_poll_interval_s: float = Field(default=10.0, gt=0)
    local_node_delay_s: float = Field(default=2.0, ge=0)
    gc_interval_s: float = Field(default=60.0, gt=0)
    gc_grace_s: float = Field(default=60.0, ge=0)
    retry_base_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)
    node_poll_interval_s: float = Field(default=5.0, gt=0)
    workers: int = Field(default=4, ge=1, le=64)

    @model_validator(mode="after")
    def _azure_needs_its_cluster(self) -> Self:
        if self.provider == "azure":
            missing = [
                env
                for env, value in (
                    ("AZURE_SUBSCRIPTION_ID", self.azure_subscription_id),
                    ("AZURE_RESOURCE_GROUP", self.azure_resource_group),
                    ("AZURE_CLUSTER_NAME", self.azure_cluster_name),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"the azure provider needs {', '.join(missing)} (flags --azure-subscription-id, "
                    "--azure-resource-group, --azure-cluster-name); use --provider=local for the "
                    "embedded cluster"
                )
        return self


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--provider`, `--azure-*` and the other provisioner flags (all default to the environment)."""
    group = parser.add_argument_group("node provisioner")
    for name, field in ProvisionerSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind: type[int] | type[float] | type[str] = str
        if field.annotation is int:
            kind = int
        elif field.annotation is float:
            kind = float
        choices = ("azure", "local") if name == "provider" else None
        group.add_argument(flag, dest=f"provisioner_{name}", type=kind, choices=choices, default=None)


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> ProvisionerSettings:
    """Settings from parsed flags, falling back to the environment for flags not given."""
    given = {
        name: getattr(args, f"provisioner_{name}")
        for name in ProvisionerSettings.model_fields
        if getattr(args, f"provisioner_{name}", None) is not None
    }
    return ProvisionerSettings(**given, **overrides)
