"""``pods/portforward`` for kubectl: SPDY/3.1 tunnelled over a WebSocket (``SPDY/3.1+portforward.k8s.io``).

kubectl opens, per local connection, an error stream and a data stream carrying the same ``requestid`` and
``port`` headers; the data stream is relayed to the pod's port, a dial failure is written on the error stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from kaito.localcluster.apiserver import spdy
from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.networking.endpoints import UNSERVED, connect_address

log = structlog.get_logger(__name__)
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
Obj = dict[str, Any]


@dataclass
class _Pair:
    error_stream: int = 0
    data_stream: int = 0
    port: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    client_done: bool = False
    pending: list[bytes] = field(default_factory=list)


class PortForwardSession:
    """One kubectl port-forward connection: streams in, TCP connections to the pod out."""

    def __init__(self, ws: web.WebSocketResponse, pod: Obj) -> None:
        self.ws = ws
        self.pod = pod
        self.codec = spdy.SpdyCodec()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, str] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(data)

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    continue
                for frame in self.codec.feed(message.data):
                    await self._on_frame(frame)
        finally:
            for pair in self.pairs.values():
                if pair.task is not None:
                    pair.task.cancel()
                if pair.writer is not None:
                    pair.writer.close()

    async def _on_frame(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            await self._on_stream(frame)
        elif frame.kind == spdy.PING:
            await self.send(self.codec.control(spdy.PING, frame.payload))
        elif frame.kind == 0:
            await self._on_data(frame)
        elif frame.kind == spdy.RST_STREAM:
            key = self.by_stream.get(frame.stream_id)
            pair = self.pairs.get(key) if key is not None else None
            if pair is not None and pair.writer is not None:
                pair.writer.close()
        elif frame.kind == spdy.GOAWAY:
            await self.ws.close()

    async def _on_stream(self, frame: spdy.Frame) -> None:
        await self.send(self.codec.syn_reply(frame.stream_id))
        request_id = frame.headers.get("requestid", str(frame.stream_id))
        pair = self.pairs.setdefault(request_id, _Pair())
        self.by_stream[frame.stream_id] = request_id
        port = frame.headers.get("port", "")
        pair.port = int(port) if port.isdigit() else 0
        if frame.headers.get("streamtype") == "error":
            pair.error_stream = frame.stream_id
        else:
            pair.data_stream = frame.stream_id
        if pair.error_stream and pair.data_stream and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair))

    async def _on_data(self, frame: spdy.Frame) -> None:
        key = self.by_stream.get(frame.stream_id)
        pair = self.pairs.get(key) if key is not None else None
        if pair is None or frame.stream_id != pair.data_stream:
            return  # the error stream only ever carries the client's FIN
        if pair.writer is None:
            pair.pending.append(frame.payload)
        elif frame.payload:
            pair.writer.write(frame.payload)
        if frame.flags & spdy.FLAG_FIN:
            pair.client_done = True
            if pair.writer is not None and pair.writer.can_write_eof():
                pair.writer.write_eof()

    async def _forward(self, pair: _Pair) -> None:
        address = connect_address(self.pod, pair.port)
        try:
            if address is None:
                raise ConnectionRefusedError(UNSERVED)
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5.0)
        except (OSError, TimeoutError) as error:
            name = self.pod["metadata"]["name"]
            message = f"error forwarding port {pair.port} to pod {name}: {error}"
            await self.send(self.codec.data(pair.error_stream, message.encode(), fin=True))
            await self.send(self.codec.data(pair.data_stream, b"", fin=True))
            return
        pair.writer = writer
        for chunk in pair.pending:
            writer.write(chunk)
        pair.pending.clear()
        if pair.client_done and writer.can_write_eof():
            writer.write_eof()
        try:
            while data := await reader.read(32 * 1024):
                await self.send(self.codec.data(pair.data_stream, data))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(self.codec.data(pair.data_stream, b"", fin=True))
                await self.send(self.codec.data(pair.error_stream, b"", fin=True))


async def serve_portforward(
    request: web.Request, name: str, find_pod: Callable[[], Obj | None]
) -> web.StreamResponse:
    """Upgrade to the tunnelled SPDY protocol and relay until kubectl hangs up."""
    pod = find_pod()
    if pod is None:
        raise ApiError(404, f'pods "{name}" not found', "NotFound", name=name, kind="pods")
    if (pod.get("status") or {}).get("phase") != "Running":
        raise ApiError(400, f"pod {name} is not running", "BadRequest")
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), autoping=True, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "port-forward needs a WebSocket upgrade", "BadRequest")
    await ws.prepare(request)
    try:
        await PortForwardSession(ws, pod).run()
    except Exception:
        log.exception("portforward.failed", pod=pod["metadata"]["name"])
    finally:
        await ws.close()
    return ws
