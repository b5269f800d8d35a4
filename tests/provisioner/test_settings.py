"""Provisioner settings from the environment and from flags, and the error when Azure settings are missing."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from kaito.provisioner.settings import ProvisionerSettings, add_arguments, settings_from_args


def test_azure_settings_come_from_the_usual_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-1")
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-1")
    monkeypatch.setenv("KAITO_PROVISIONER_AZURE_CLUSTER_NAME", "aks-1")
    monkeypatch.setenv("LOCATION", "westus3")
    monkeypatch.setenv("KAITO_PROVISIONER_GC_INTERVAL_S", "15")
    settings = ProvisionerSettings()
    assert (settings.provider, settings.azure_subscription_id, settings.azure_resource_group) == (
        "azure",
        "sub-1",
        "rg-1",
    )
    assert (settings.azure_cluster_name, settings.azure_location, settings.gc_interval_s) == (
        "aks-1",
        "westus3",
        15.0,
    )


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_PROVISIONER_WORKERS", "3")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--provider", "local", "--local-node-delay-s", "0.5", "--workers", "8"])
    settings = settings_from_args(args)
    assert (settings.provider, settings.local_node_delay_s, settings.workers) == ("local", 0.5, 8)
    with pytest.raises(SystemExit):
        parser.parse_args(["--provider", "gcp"])


def test_azure_without_its_cluster_says_which_settings_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_CLUSTER_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as info:
        ProvisionerSettings(azure_subscription_id="sub-1")
    message = str(info.value)
    assert "AZURE_RESOURCE_GROUP" in message
    assert "AZURE_CLUSTER_NAME" in message
    assert "AZURE_SUBSCRIPTION_ID" not in message.split("needs", 1)[1].split("(", 1)[0]
    assert "--provider=local" in message
