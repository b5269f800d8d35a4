"""A tiny HTTP backend the networking tests run as pods: names itself, echoes, streams, toggles readiness."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ.get("HOSTNAME", "?")
READY = threading.Event()
READY.set()
RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ready":
            self._send(200 if READY.is_set() else 503, b"ready" if READY.is_set() else b"not ready")
        elif self.path.startswith("/stream"):
            RELEASE.clear()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"data: first\n\n")
            RELEASE.wait(20)
            self._chunk(b"data: second\n\n")
            self._chunk(b"")
        else:
            self._send(200, f"hello from {NAME} path={self.path}".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/release":
            RELEASE.set()
        elif self.path == "/unready":
            READY.clear()
        elif self.path == "/ready":
            READY.set()
        reply = {"pod": NAME, "path": self.path, "body": json.loads(body) if body else None}
        self._send(200, json.dumps(reply).encode(), "application/json")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
