"""Fixtures for the provisioner tests: a running ARM emulator and an AzureProvider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.api.nodeclaim import NodeClaim
from kaito.provisioner.azure import AzureProvider

from .arm_emulator import ArmEmulator
from .fakes import StaticTokenCredential


def make_nodeclaim(
    name: str = "ws0abc12",
    *,
    sku: str = "Standard_NC6s_v3",
    storage: str | None = "120Gi",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> NodeClaim:
    """A NodeClaim shaped like the ones the workspace reconciler writes."""
    body: dict[str, Any] = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": labels
            if labels is not None
            else {
                "kaito.sh/workspace": "workspace-phi-3-mini",
                "kaito.sh/workspacenamespace": "default",
                "apps": "phi-3",
            },
            "annotations": annotations or {},
        },
        "spec": {
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [sku]}],
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "resources": {"requests": {"storage": storage}} if storage else {},
            "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"},
        },
    }
    return NodeClaim.model_validate(body)


@pytest.fixture
async def arm() -> AsyncIterator[ArmEmulator]:
    emulator = ArmEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


def provider_for(arm: ArmEmulator, **overrides: Any) -> AzureProvider:
    options: dict[str, Any] = {
        "credential": StaticTokenCredential(),
        "subscription_id": arm.subscription_id,
        "resource_group": arm.resource_group,
        "cluster_name": arm.cluster_name,
        "location": arm.location,
        "base_url": arm.base_url,
        "poll_interval_s": 0.02,
        "retry_total": 1,
        "retry_backoff_factor": 0.01,
    }
    options.update(overrides)
    return AzureProvider(**options)


@pytest.fixture
async def azure(arm: ArmEmulator) -> AsyncIterator[AzureProvider]:
    provider = provider_for(arm)
    try:
        yield provider
    finally:
        await provider.close()
