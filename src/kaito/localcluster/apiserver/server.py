"""The aiohttp application: routing, bearer-token auth, Status errors, discovery/OpenAPI endpoints."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from kaito.localcluster.apiserver import discovery
from kaito.localcluster.apiserver.access import AccessControl
from kaito.localcluster.apiserver.admission import WebhookAdmission
from kaito.localcluster.apiserver.builtin_schema import definitions_document
from kaito.localcluster.apiserver.errors import ApiError, failure_status
from kaito.localcluster.apiserver.faults import Faults
from kaito.localcluster.apiserver.gc import GarbageCollector
from kaito.localcluster.apiserver.handlers import ResourceHandlers, verb_of
from kaito.localcluster.apiserver.lifecycle import LifecycleController
from kaito.localcluster.apiserver.objects import ObjectService
from kaito.localcluster.apiserver.openapi import OpenAPICache
from kaito.localcluster.apiserver.proxy import ProxyHandler, is_proxy_path
from kaito.localcluster.apiserver.registry import Registry
from kaito.localcluster.apiserver.requests import encode, json_response, parse_resource_path
from kaito.localcluster.apiserver.storage import Storage
from kaito.localcluster.apiserver.watchstream import ABORT, WatchSettings

log = structlog.get_logger(__name__)
MAX_REQUEST_BYTES = 3 * 1024 * 1024
_PUBLIC = ("/version", "/healthz", "/livez", "/readyz")
_NOT_FOUND = ApiError(404, "the server could not find the requested resource", "NotFound")


def _error_response(err: ApiError) -> web.Response:
    response = web.Response(body=encode(err.status()), status=err.code, content_type="application/json")
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


class ApiServer:
    """Everything behind one listening socket; the storage object outlives restarts of the socket."""

    def __init__(
        self,
        storage: Storage,
        faults: Faults,
        token: str | None = None,
        service_cidr: str = "127.96.0.0/16",
        watch_settings: WatchSettings | None = None,
    ) -> None:
        self.storage = storage
        self.registry = Registry()
        self.faults = faults
        self.token = token
        self.service = ObjectService(storage, self.registry, service_cidr)
        self.webhooks = WebhookAdmission(storage)
        self.service.admission = self.webhooks
        self.watch_settings = watch_settings or WatchSettings()
        self.handlers = ResourceHandlers(self.service, self.watch_settings)
        self.openapi = OpenAPICache(self.registry)
        self.gc = GarbageCollector(self.service)
        self.proxy = ProxyHandler(storage)
        self.lifecycle = LifecycleController(self.service)
        self.server_address = "127.0.0.1:0"
        # RBAC mode (LocalCluster(rbac=True)): tokens map to users and RBAC objects decide; None: admin only.
        self.access: AccessControl | None = None
        storage.listeners[:] = [self.lifecycle.on_event, self.gc.on_event]
        for _, obj in storage.iter_all():
            if obj.get("kind") == "CustomResourceDefinition":
                self.registry.set_crd(obj)

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self._auth, self._limit], client_max_size=64 * 1024 * 1024
        )
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    def start_loops(self) -> None:
        asyncio.get_running_loop().run_in_executor(
            None, definitions_document
        )  # warm the strict-decoding schemas
        self.gc.queue.start()
        self.lifecycle.queue.start()
        for store_key, obj in list(self.storage.iter_all()):
            meta = obj["metadata"]
            if meta.get("deletionTimestamp") and store_key == ("", "namespaces"):
                self.lifecycle.queue.add(("namespace", meta["name"]))
            if meta.get("ownerReferences"):
                self.gc.queue.add(("dependent", (store_key, (meta.get("namespace", ""), meta["name"]))))

    async def stop_loops(self) -> None:
        await self.gc.queue.stop()
        await self.lifecycle.queue.stop()
        await self.webhooks.chain.close()
        await self.proxy.close()

    def drop_watches(self, abort: bool = False) -> None:
        """End every open watch; ``abort`` resets the connections as a crashing server would."""
        for watcher in self.storage.all_watchers():
            watcher.close(ABORT if abort else None)

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return _error_response(err)
        except web.HTTPException:
            raise
        except Exception as err:
            log.exception("request failed", method=request.method, path=request.path)
            return _error_response(ApiError(500, f"Internal error occurred: {err}", "InternalError"))

    @web.middleware
    async def _limit(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """kube-apiserver refuses request bodies over 3 MiB before decoding them."""
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            raise ApiError(
                413, f"Request entity too large: limit is {MAX_REQUEST_BYTES}", "RequestEntityTooLarge"
            )
        return await handler(request)

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.access is not None:
            return await self.access.handle(request, handler)
        if self.token is not None and not request.path.startswith(_PUBLIC):
            header = request.headers.get("Authorization", "")
            given = header[7:] if header.startswith("Bearer ") else ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.Response(
                    body=encode(failure_status(401, "Unauthorized", "Unauthorized")),
                    status=401,
                    content_type="application/json",
                )
        return await handler(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return json_response(
                {"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]}
            )
        head = parts[0]
        if head == "api":
            return await self._core(request, parts[1:])
        if head == "apis":
            return await self._groups(request, parts[1:])
        if head == "version":
            return json_response(discovery.VERSION_INFO)
        if head in ("healthz", "livez", "readyz"):
            return web.Response(text="ok")
        if head == "openapi":
            return self._openapi(parts[1:])
        raise _NOT_FOUND

    def _discovery_response(self, request: web.Request, legacy: bool, plain: dict[str, Any]) -> web.Response:
        media = discovery.wants_aggregated(request)
        if media is None:
            return json_response(plain)
        body = encode(discovery.aggregated(self.registry, legacy, media))
        response = web.Response(body=body)
        response.headers["Content-Type"] = media
        return response

    async def _core(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        if not rest:
            return self._discovery_response(request, True, discovery.api_versions(self.server_address))
        if rest[0] != "v1":
            raise _NOT_FOUND
        if is_proxy_path(rest):
            return await self.proxy.handle(request, rest)
        return await self._resource(request, "", "v1", rest[1:])

    async def _groups(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        if not rest:
            return self._discovery_response(request, False, discovery.api_group_list(self.registry))
        if len(rest) == 1:
            group = discovery.api_group(self.registry, rest[0])
            if group is None:
                raise _NOT_FOUND
            return json_response(group)
        return await self._resource(request, rest[0], rest[1], rest[2:])

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        path = parse_resource_path(group, version, rest)
        if path is None:
            listing = discovery.resource_list(self.registry, group, version)
            if listing is None:
                raise _NOT_FOUND
            return json_response(listing)
        rtype = self.registry.get(group, version, path.resource)
        if rtype is None:
            raise _NOT_FOUND
        await self.faults.before_request(verb_of(request, path), path.resource)
        return await self.handlers.handle(request, rtype, path)

    def _openapi(self, rest: list[str]) -> web.Response:
        if rest == ["v3"]:
            return json_response(self.openapi.root())
        if rest and rest[0] == "v3":
            doc = self.openapi.document("/".join(rest[1:]))
            if doc is not None:
                return web.Response(body=json.dumps(doc).encode(), content_type="application/json")
        raise _NOT_FOUND
