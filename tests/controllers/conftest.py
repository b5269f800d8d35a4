"""Fixtures for the runtime's cluster tests: a raw KubeClient and a test CRD with a status subresource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.resource import CRDS, Resource

WIDGETS = Resource("test.kaito.sh", "v1", "widgets", "Widget")

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.kaito.sh"},
    "spec": {
        "group": "test.kaito.sh",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


async def client_for(kubeconfig: Path) -> KubeClient:
    configuration = Configuration()
    await kube_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return KubeClient(ApiClient(configuration), field_manager="kaito-runtime-tests")


@pytest.fixture(scope="session")
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    client = await client_for(kubeconfig)
    yield client
    await client.api_client.close()


@pytest.fixture(scope="session")
async def widgets(kube: KubeClient) -> Resource:
    """Install the Widget CRD once and wait until it is served."""
    with contextlib.suppress(ConflictError):
        await kube.create(CRDS, WIDGET_CRD)
    async with asyncio.timeout(30):
        while True:
            try:
                await kube.list(WIDGETS, "default", limit=1)
                return WIDGETS
            except NotFoundError:
                await asyncio.sleep(0.2)
