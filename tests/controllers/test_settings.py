"""Manager settings: defaults, KAITO_* environment, flags (init arguments) over environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.controllers.settings import ManagerSettings


def test_defaults_follow_client_go_leader_election() -> None:
    settings = ManagerSettings()
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (15.0, 10.0, 2.0)
    assert settings.leader_elect is True
    assert settings.bind_address == "0.0.0.0:8080"


def test_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_LEADER_ELECT", "false")
    monkeypatch.setenv("KAITO_WORKERS", "8")
    monkeypatch.setenv("KAITO_KUBECONFIG", "/etc/kube/config")
    monkeypatch.setenv("POD_NAME", "kaito-operator-7d9f")
    settings = ManagerSettings()
    assert settings.leader_elect is False
    assert settings.workers == 8
    assert settings.kubeconfig == Path("/etc/kube/config")
    assert settings.identity == "kaito-operator-7d9f"
    flagged = ManagerSettings(workers=2, kubeconfig=Path("/tmp/k"))
    assert flagged.workers == 2
    assert flagged.kubeconfig == Path("/tmp/k")


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="workers"):
        ManagerSettings(workers=0)
