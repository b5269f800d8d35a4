"""A kube-proxy for loopback: a TCP listener on every ``ClusterIP:port``, forwarding to ready endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.workqueue import Controller
from kaito.localcluster.networking.endpoints import (
    endpoints_backends,
    selector_of,
    service_backends,
)

log = structlog.get_logger(__name__)
ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# (handler, host, port) -> a listening server; tests inject failures here.
StartServer = Callable[[ConnectionHandler, str, int], Awaitable[asyncio.AbstractServer]]
CONNECT_TIMEOUT_S = 5.0
BIND_RETRY_S = 10.0
_CHUNK = 64 * 1024
SERVICE_REF = ("v1", "Service")


async def start_tcp_server(handler: ConnectionHandler, host: str, port: int) -> asyncio.AbstractServer:
    return await asyncio.start_server(handler, host, port, reuse_address=True, backlog=1024)


@dataclass
class _Listener:
    service_key: str
    port: int
    server: asyncio.AbstractServer
    turn: itertools.count[int] = field(default_factory=itertools.count)


def _listen_addresses(service: Obj) -> set[tuple[str, int]]:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return set()
    wanted = set()
    for cluster_ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
        try:
            ip = ipaddress.ip_address(str(cluster_ip))
        except ValueError:
            continue  # headless ("None") or unallocated
        for port in spec.get("ports") or []:
            if (port.get("protocol") or "TCP") == "TCP":
                wanted.add((str(ip), int(port["port"])))
    return wanted


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()


class ServiceProxy(Controller):
    """Listeners follow Service create/update/delete; with no ready endpoint a connection closes at once."""

    name = "service-proxy"

    def __init__(
        self,
        services: Informer,
        pods: Informer,
        endpoints: Informer,
        events: EventRecorder,
        start_server: StartServer = start_tcp_server,
    ) -> None:
        super().__init__()
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.events = events
        self.start_server = start_server
        self.listeners: dict[tuple[str, int], _Listener] = {}
        self._reported: set[tuple[str, str, int]] = set()  # (service uid, ip, port) bind failures reported
        self._connections: set[asyncio.Task[None]] = set()
        services.add_handler(lambda _, obj: self.enqueue(_key(obj)))

    async def reconcile(self, key: str) -> None:
        service = self.services.get(key)
        wanted = _listen_addresses(service) if service is not None else set()
        for address, listener in list(self.listeners.items()):
            if listener.service_key == key and address not in wanted:
                await self._close(address)
        refused = False
        for address in sorted(wanted - self.listeners.keys()):
            assert service is not None
            refused |= not await self._open(service, key, address)
        if refused:
            self.enqueue_after(key, BIND_RETRY_S)

    async def _open(self, service: Obj, key: str, address: tuple[str, int]) -> bool:
        host, port = address

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(address, reader, writer)

        try:
            server = await self.start_server(handle, host, port)
        except OSError as error:
            uid = str(service["metadata"].get("uid", ""))
            if (uid, host, port) not in self._reported:
                self._reported.add((uid, host, port))
                message = f"cannot listen on {host}:{port}: {error.strerror or error}"
                if port < 1024:
                    message += " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                self.events.warning(service, "FailedToBindServicePort", message, self.name, SERVICE_REF)
                log.warning("service_proxy.bind_failed", service=key, port=port, error=str(error))
            return False
        self.listeners[address] = _Listener(key, port, server)
        log.debug("service_proxy.listening", service=key, address=f"{host}:{port}")
        return True

    async def _close(self, address: tuple[str, int]) -> None:
        listener = self.listeners.pop(address)
        listener.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.server.wait_closed(), 2.0)

    def backends(self, address: tuple[str, int]) -> list[tuple[str, int]]:
        """Where a connection to this ClusterIP:port may go now."""
        listener = self.listeners.get(address)
        service = self.services.get(listener.service_key) if listener is not None else None
        if listener is None or service is None:
            return []
        port = next(
            (
                p
                for p in (service.get("spec") or {}).get("ports") or []
                if int(p.get("port", 0)) == listener.port and (p.get("protocol") or "TCP") == "TCP"
            ),
            None,
        )
        if port is None:
            return []
        if selector_of(service) is None:
            return endpoints_backends(self.endpoints.get(listener.service_key), port)
        namespace = service["metadata"].get("namespace", "")
        return service_backends(service, port, self.pods.by_index("namespace", namespace))

    async def _serve(
        self, address: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            backends = self.backends(address)
            listener = self.listeners.get(address)
            start = next(listener.turn) if listener is not None else 0
            for attempt in range(len(backends)):
                host, port = backends[(start + attempt) % len(backends)]
                try:
                    upstream_reader, upstream_writer = await asyncio.wait_for(
                        asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
                    )
                except (OSError, TimeoutError):
                    continue
                try:
                    await asyncio.gather(_copy(reader, upstream_writer), _copy(upstream_reader, writer))
                finally:
                    upstream_writer.close()
                return
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def close(self) -> None:
        """Stop listening everywhere and cut open connections."""
        for address in list(self.listeners):
            await self._close(address)
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
