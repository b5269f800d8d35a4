"""SPDY/3.1 framing as kubectl's port-forward speaks it: frames in, frames out, zlib-compressed headers."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5

_WORDS = str.split(
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status 200_OK "
    "version HTTP/1.1 url public set-cookie keep-alive origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The header-compression dictionary of the SPDY/3 specification (section 2.6.10.1), built from its parts.
DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.replace("_", " ").encode() for w in _WORDS) + _TAIL.encode()
)


@dataclass
class Frame:
    """A control frame (`kind` > 0) or a data frame (`kind` 0) with its stream id, flags and payload."""

    kind: int
    flags: int
    stream_id: int = 0
    payload: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class SpdyCodec:
    """One connection's framing state: a zlib stream per direction for header blocks."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """Bytes from the peer -> the complete frames they finish."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            frames.append(self._parse(head, payload))
        return frames

    def _parse(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        if not head[0] & 0x80:
            return Frame(0, flags, int.from_bytes(head[0:4], "big") & 0x7FFFFFFF, payload)
        kind = int.from_bytes(head[2:4], "big")
        frame = Frame(kind, flags, payload=payload)
        if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE):
            frame.stream_id = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
        if kind == SYN_STREAM:
            frame.headers = self._decode_headers(payload[10:])
        elif kind in (SYN_REPLY, HEADERS):
            frame.headers = self._decode_headers(payload[4:])
        return frame

    def _decode_headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        count, offset = struct.unpack_from(">I", raw)[0], 4
        headers = {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, offset)
            name = raw[offset + 4 : offset + 4 + size].decode()
            offset += 4 + size
            (size,) = struct.unpack_from(">I", raw, offset)
            headers[name.lower()] = raw[offset + 4 : offset + 4 + size].decode()
            offset += 4 + size
        return headers

    def _encode_headers(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            raw += (
                struct.pack(">I", len(name)) + name.encode() + struct.pack(">I", len(value)) + value.encode()
            )
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def control(kind: int, payload: bytes, flags: int = 0) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        return self.control(SYN_REPLY, struct.pack(">I", stream_id) + self._encode_headers(headers or {}))

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        return struct.pack(">II", stream_id, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data

    def rst_stream(self, stream_id: int, status: int = RST_CANCEL) -> bytes:
        return self.control(RST_STREAM, struct.pack(">II", stream_id, status))
