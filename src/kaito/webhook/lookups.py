"""The validation module's Lookups, answered by the API server through the operator's KubeClient."""

from __future__ import annotations

from typing import Any

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import NotFoundError
from kaito.controllers.resource import CONFIGMAPS, NODES


class KubeLookups:
    """Reads ConfigMaps and Nodes with plain GET/LIST calls (admission is rare; no cache needed)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(CONFIGMAPS, name, namespace)
        except NotFoundError:
            return None

    async def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        result = await self.client.list(NODES, label_selector=selector, limit=100)
        items: list[dict[str, Any]] = result.get("items") or []
        return items
