"""The ``services/proxy`` and ``pods/proxy`` subresources: any HTTP method relayed to a ready endpoint,
the response streamed back chunk by chunk (server-sent events arrive as the backend writes them).
``pods/portforward`` is routed here too and served by ``portforward``."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
from aiohttp import web

from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.portforward import serve_portforward
from kaito.localcluster.apiserver.storage import Storage
from kaito.localcluster.networking.endpoints import (
    UNSERVED,
    connect_address,
    endpoints_backends,
    resolve_target_port,
    selector_of,
    service_backends,
    service_port,
)

# Headers of one hop, never relayed; the bearer token is the API server's, not the backend's.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "content-length",
    }
)
_PREFIX_SEGMENTS = 8  # "", api, v1, namespaces, {ns}, services|pods, {name}, proxy


def is_proxy_path(rest: list[str]) -> bool:
    """Whether the segments after ``/api`` name ``v1/namespaces/{ns}/(services|pods)/{name}/proxy[/...]``
    or ``v1/namespaces/{ns}/pods/{name}/portforward``."""
    if len(rest) < 6 or rest[0] != "v1" or rest[1] != "namespaces":
        return False
    return (rest[3] in ("services", "pods") and rest[5] == "proxy") or (
        len(rest) == 6 and rest[3] == "pods" and rest[5] == "portforward"
    )


def _unavailable(message: str) -> ApiError:
    return ApiError(503, message, "ServiceUnavailable")


def _split_name(segment: str) -> tuple[str, str, str]:
    """``name``, ``name:port`` or ``scheme:name:port`` -> (scheme, name, port)."""
    parts = segment.split(":")
    if len(parts) == 3:
        return parts[0] or "http", parts[1], parts[2]
    if len(parts) == 2:
        return "http", parts[0], parts[1]
    return "http", segment, ""


class ProxyHandler:
    """Resolves the target from storage on every request, so it follows pod readiness at once."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._session: aiohttp.ClientSession | None = None
        self._turns: dict[tuple[str, str, str], itertools.count[int]] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=False),
                auto_decompress=False,
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0),
            )
        return self._session

    async def handle(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        namespace, resource = rest[2], rest[3]
        if rest[5] == "portforward":
            return await serve_portforward(
                request, rest[4], lambda: self.storage.get(("", "pods"), namespace, rest[4])
            )
        scheme, name, port = _split_name(rest[4])
        if resource == "services":
            backends = self._service_backends(namespace, name, port)
        else:
            backends = [self._pod_backend(namespace, name, port)]
        raw = request.rel_url.raw_path.split("/")
        tail = "/" + "/".join(raw[_PREFIX_SEGMENTS:])
        query = request.rel_url.raw_query_string
        body = await request.read() if request.can_read_body else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        turn = self._turns.setdefault((resource, namespace, name), itertools.count())
        start = next(turn)
        failure: Exception | None = None
        for attempt in range(len(backends)):
            host, number = backends[(start + attempt) % len(backends)]
            url = f"{scheme}://{host}:{number}{tail}" + (f"?{query}" if query else "")
            try:
                upstream = await self._client().request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ClientConnectorError as error:
                failure = error
                continue
            async with upstream:
                return await _relay(request, upstream)
        raise _unavailable(f"error trying to reach {resource[:-1]} {name!r}: {failure}")

    def _service_backends(self, namespace: str, name: str, wanted: str) -> list[tuple[str, int]]:
        service = self.storage.get(("", "services"), namespace, name)
        if service is None:
            raise ApiError(404, f'services "{name}" not found', "NotFound", name=name, kind="services")
        port = service_port(service, wanted or None)
        if port is None:
            raise _unavailable(f'no service port "{wanted}" found for service "{name}"')
        backends: list[tuple[str, int]]
        if selector_of(service) is None:
            backends = endpoints_backends(self.storage.get(("", "endpoints"), namespace, name), port)
        else:
            backends = service_backends(service, port, self.storage.items(("", "pods"), namespace))
        if not backends:
            raise _unavailable(f'no endpoints available for service "{name}"')
        return backends

    def _pod_backend(self, namespace: str, name: str, wanted: str) -> tuple[str, int]:
        pod = self.storage.get(("", "pods"), namespace, name)
        if pod is None:
            raise ApiError(404, f'pods "{name}" not found', "NotFound", name=name, kind="pods")
        if not (pod.get("status") or {}).get("podIP"):
            raise _unavailable(f'pod "{name}" has no IP address yet')
        container_port = _pod_port(pod, wanted)
        if container_port is None:
            raise _unavailable(f'pod "{name}" has no port named "{wanted}"')
        address = connect_address(pod, container_port)
        if address is None:
            raise _unavailable(f'port {container_port} of pod "{name}": {UNSERVED}')
        return address


def _pod_port(pod: dict[str, Any], wanted: str) -> int | None:
    if wanted:
        return resolve_target_port(pod, wanted)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            return int(port["containerPort"])
    return 80


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    for key, value in upstream.headers.items():
        if key.lower() not in _HOP_BY_HOP:
            response.headers.add(key, value)
    length = upstream.headers.get("Content-Length")
    if length is not None and length.isdigit() and request.method != "HEAD":
        response.content_length = int(length)
    await response.prepare(request)
    async for chunk in upstream.content.iter_any():
        await response.write(chunk)
    await response.write_eof()
    return response
