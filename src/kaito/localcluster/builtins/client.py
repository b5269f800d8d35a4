"""A small dict-in/dict-out REST client over kubernetes-asyncio's shared ApiClient, for any resource."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

MERGE_PATCH = "application/merge-patch+json"
_OBJECT = {200: "object", 201: "object", 202: "object"}


@dataclass(frozen=True)
class Resource:
    """Where a kind lives on the API server."""

    group_version: str
    plural: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        return "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        path = self.prefix
        if self.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{self.plural}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path


PODS = Resource("v1", "pods")
NODES = Resource("v1", "nodes", namespaced=False)
CONFIGMAPS = Resource("v1", "configmaps")
SECRETS = Resource("v1", "secrets")
EVENTS = Resource("v1", "events")
LEASES = Resource("coordination.k8s.io/v1", "leases")
DEPLOYMENTS = Resource("apps/v1", "deployments")
REPLICASETS = Resource("apps/v1", "replicasets")
STATEFULSETS = Resource("apps/v1", "statefulsets")
CONTROLLER_REVISIONS = Resource("apps/v1", "controllerrevisions")
JOBS = Resource("batch/v1", "jobs")


def is_status(error: BaseException, *codes: int) -> bool:
    return isinstance(error, ApiException) and error.status in codes


class KubeClient:
    """CRUD, status and watch calls returning plain JSON dicts (parsed into models by the caller)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, Any]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        result = await self.api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            response_types_map=_OBJECT,
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        return result if isinstance(result, dict) else {}

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        return await self._call("GET", resource.path(namespace, name))

    async def list(self, resource: Resource, namespace: str | None = None) -> dict[str, Any]:
        return await self._call("GET", resource.path(namespace))

    async def create(
        self, resource: Resource, namespace: str | None, body: dict[str, Any], sub: str | None = None
    ) -> dict[str, Any]:
        if sub:
            return await self._call(
                "POST", resource.path(namespace, body["metadata"]["name"], sub), body=body
            )
        return await self._call("POST", resource.path(namespace), body=body)

    async def replace(
        self, resource: Resource, namespace: str | None, body: dict[str, Any], sub: str | None = None
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        return await self._call("PUT", resource.path(namespace, name, sub), body=body)

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): lists are replaced whole, `None` removes a key."""
        return await self._call(
            "PATCH", resource.path(namespace, name, sub), body=patch, content_type=MERGE_PATCH
        )

    async def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation: str | None = None,
        uid: str | None = None,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        return await self._call("DELETE", resource.path(namespace, name), body=options)

    async def watch(
        self, resource: Resource, resource_version: str, timeout_seconds: int = 300
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) watch events; ends when the server closes the stream."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout_seconds),
        ]
        response = await self.api.call_api(
            resource.path(),
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=timeout_seconds + 30,
        )
        try:
            while True:
                line = await response.content.readline()
                if not line:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event.get("type", "")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message", "watch error"))
                yield kind, obj
        finally:
            response.close()
