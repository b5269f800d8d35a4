"""A raw-dict Kubernetes client on kubernetes-asyncio's ApiClient: CRUD, patches, status writes, watches.

It skips the typed models entirely (requests go straight to the ApiClient's session, with its headers, auth
and TLS, and the JSON is encoded and parsed once with the stdlib), so any resource, CRDs included, costs the
same and nothing is serialized or deserialized twice on the hot path.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncGenerator, Callable, Mapping
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from kubernetes_asyncio.client import ApiClient

from kaito.controllers.errors import ConflictError, api_error
from kaito.controllers.objects import FrozenDict, FrozenList, Obj, raw, thaw
from kaito.controllers.resource import PODS, Resource

JSON = dict[str, Any]
Mutation = Callable[[JSON], bool | None]
"""Edits an object in place; returning False means "nothing to change" and skips the write."""


class PatchType(StrEnum):
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


class KubeClient:
    """Raw JSON access to any resource through one ApiClient (auth, TLS and connection pooling are its)."""

    def __init__(self, api_client: ApiClient, *, field_manager: str = "kaito", timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self.timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: builtins.list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request and return the open response (raising :class:`ApiError` on non-2xx).

        What ``ApiClient.call_api`` does for a raw request, minus its generic model walk: the same session,
        default headers, auth (token refresh included), proxy and TLS settings; the body is JSON-encoded
        once (cache views included, no copy)."""
        api = self.api_client
        headers = {"Accept": "application/json", "Content-Type": content_type, **api.default_headers}
        if api.cookie:
            headers["Cookie"] = api.cookie
        params = builtins.list(query or ())
        await api.update_params_for_auth(headers, params, _AUTH_SETTINGS)
        url = f"{api.configuration.host}{path}"
        if params:
            url += "?" + urlencode(params)
        timeout = request_timeout if request_timeout is not None else self.timeout
        if not isinstance(timeout, aiohttp.ClientTimeout):
            timeout = aiohttp.ClientTimeout(total=timeout or None)
        rest = api.rest_client
        options: dict[str, Any] = {"headers": headers, "timeout": timeout}
        if body is not None:
            options["data"] = json.dumps(body, default=_plain).encode()
        if rest.proxy:
            options["proxy"] = rest.proxy
        if rest.proxy_headers:
            options["proxy_headers"] = rest.proxy_headers
        if rest.server_hostname:
            options["server_hostname"] = rest.server_hostname
        response: aiohttp.ClientResponse = await rest.pool_manager.request(method, url, **options)
        if response.status >= 300:
            payload = await response.read()
            raise api_error(response.status, payload)
        return response

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        payload = await response.read()
        return json.loads(payload) if payload else None

    # -- reads ---------------------------------------------------------------------------------------------
    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        result: JSON = await self.call("GET", resource.path(namespace, name))
        return result

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> JSON:
        query = _selectors(label_selector, field_selector)
        if limit:
            query.append(("limit", str(limit)))
        if continue_token:
            query.append(("continue", continue_token))
        if resource_version:
            query.append(("resourceVersion", resource_version))
        result: JSON = await self.call("GET", resource.path(namespace), query=query)
        return result

    async def read_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
        request_timeout: float | None = None,
    ) -> str:
        """A container's current log as text (``pods/log``: needs RBAC ``get`` on ``pods/log``)."""
        query: builtins.list[tuple[str, str]] = []
        if container:
            query.append(("container", container))
        if tail_lines is not None:
            query.append(("tailLines", str(tail_lines)))
        if limit_bytes is not None:
            query.append(("limitBytes", str(limit_bytes)))
        response = await self.request(
            "GET", PODS.path(namespace, pod, "log"), query=query, request_timeout=request_timeout
        )
        try:
            payload = await response.read()
        finally:
            response.release()
        return payload.decode(errors="replace")

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int = 300,
    ) -> AsyncGenerator[JSON, None]:
        """Yield watch events ({type, object}) as parsed dicts until the server ends the stream."""
        query = _selectors(label_selector, field_selector)
        query += [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=timeout_seconds + 30)
        response = await self.request("GET", resource.path(namespace), query=query, request_timeout=timeout)
        try:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        finally:
            response.release()

    # -- writes --------------------------------------------------------------------------------------------
    async def create(self, resource: Resource, obj: Mapping[str, Any], namespace: str | None = None) -> JSON:
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        body = _with_type(resource, _body(obj))
        result: JSON = await self.call("POST", resource.path(namespace), body=body, query=self._manager())
        return result

    async def update(
        self, resource: Resource, obj: Mapping[str, Any], *, subresource: str | None = None
    ) -> JSON:
        """PUT the whole object; its metadata.resourceVersion guards against lost updates (409 Conflict)."""
        metadata = obj["metadata"]
        path = resource.path(metadata.get("namespace"), metadata["name"], subresource)
        body = _with_type(resource, _body(obj))
        result: JSON = await self.call("PUT", path, body=body, query=self._manager())
        return result

    async def update_status(self, resource: Resource, obj: Mapping[str, Any]) -> JSON:
        return await self.update(resource, obj, subresource="status")

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        force: bool = False,
    ) -> JSON:
        query = self._manager()
        if patch_type is PatchType.APPLY and force:
            query.append(("force", "true"))
        path = resource.path(namespace, name, subresource)
        result: JSON = await self.call("PATCH", path, body=patch, content_type=patch_type.value, query=query)
        return result

    async def apply(self, resource: Resource, obj: Mapping[str, Any], *, force: bool = True) -> JSON:
        """Server-side apply of ``obj`` under this client's field manager."""
        metadata = obj["metadata"]
        body = _with_type(resource, thaw(obj))
        return await self.patch(
            resource,
            metadata["name"],
            body,
            namespace=metadata.get("namespace"),
            patch_type=PatchType.APPLY,
            force=force,
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> JSON:
        body: JSON = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation:
            body["propagationPolicy"] = propagation
        if preconditions:
            body["preconditions"] = dict(preconditions)
        result: JSON = await self.call("DELETE", resource.path(namespace, name), body=body)
        return result

    async def mutate(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        mutation: Mutation,
        *,
        current: Obj | None = None,
        subresource: str | None = None,
        attempts: int = 8,
    ) -> JSON:
        """Read-modify-write with conflict retry: on 409 re-get and re-apply ``mutation`` to the fresh copy.

        ``current`` (e.g. the cached object) saves the first GET; a stale cache costs a conflict, no error.
        """
        obj: JSON = thaw(current) if current is not None else await self.get(resource, name, namespace)
        for attempt in range(attempts):
            if mutation(obj) is False:
                return obj
            try:
                return await self.update(resource, obj, subresource=subresource)
            except ConflictError:
                if attempt == attempts - 1:
                    raise
                obj = await self.get(resource, name, namespace)
        raise AssertionError("unreachable")

    async def mutate_status(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        mutation: Mutation,
        *,
        current: Obj | None = None,
    ) -> JSON:
        """Write through the /status subresource with conflict retry."""
        return await self.mutate(resource, namespace, name, mutation, current=current, subresource="status")

    def _manager(self) -> builtins.list[tuple[str, str]]:
        return [("fieldManager", self.field_manager)]


def _selectors(label_selector: str, field_selector: str) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


_AUTH_SETTINGS: Final = ["BearerToken"]


def _body(obj: Mapping[str, Any]) -> JSON:
    """A request body: it is only read by the encoder (which takes cache views as they are), so a shallow
    copy to add apiVersion and kind is enough."""
    return dict(raw(obj))


def _plain(value: Any) -> Any:
    """JSON encoding of the cache's read-only views: their underlying data."""
    if isinstance(value, FrozenDict | FrozenList):
        return value._data
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _with_type(resource: Resource, obj: JSON) -> JSON:
    if resource.kind:
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
    return obj
