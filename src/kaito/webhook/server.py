"""The HTTPS endpoints the API server calls: /validate-workspace, /mutate-workspace, plus /healthz.

Malformed requests get a 400 with an AdmissionReview-shaped body, never a 5xx. The TLS certificate can be
swapped while serving: new handshakes use the new one, connections already open keep theirs.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from kaito.webhook.handler import AdmissionHandler
from kaito.webhook.metrics import ADMISSION_REQUESTS
from kaito.webhook.review import (
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReview,
    AdmissionReviewResponse,
    deny,
)

log = structlog.get_logger(__name__)

VALIDATE_PATH = "/validate-workspace"
MUTATE_PATH = "/mutate-workspace"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own request limit

Review = Callable[[AdmissionRequest], Awaitable[AdmissionResponse]]


class SwappableTLS:
    """One server SSLContext whose certificate chain is replaced in place (OpenSSL copies the chain into
    each new connection, so in-flight handshakes are unaffected)."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._dir = tempfile.TemporaryDirectory(prefix="kaito-webhook-tls-")
        self.loaded = False

    async def load(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Use this certificate and key for every new connection from now on."""
        directory = Path(self._dir.name)
        cert_path, key_path = directory / "tls.crt", directory / "tls.key"
        await asyncio.to_thread(_write_private, cert_path, cert_pem)
        await asyncio.to_thread(_write_private, key_path, key_pem)
        # On the loop thread, where handshakes run, so no handshake sees a half-loaded context.
        self.context.load_cert_chain(cert_path, key_path)
        self.loaded = True

    def close(self) -> None:
        self._dir.cleanup()


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(data)


def _malformed(message: str, uid: str = "") -> web.Response:
    body = AdmissionReviewResponse(response=deny(uid, 400, "BadRequest", message)).to_json()
    return web.json_response(body, status=400)


async def _read_request(request: web.Request) -> AdmissionRequest | web.Response:
    """The AdmissionRequest in the body, or the 400 answer to send back."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _malformed(f"request body larger than {MAX_BODY_BYTES} bytes")
    except (OSError, ValueError) as exc:
        return _malformed(f"could not read the request body: {exc}")
    try:
        payload: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return _malformed(f"request body is not JSON: {exc}")
    uid = ""
    if isinstance(payload, dict) and isinstance(payload.get("request"), dict):
        candidate = payload["request"].get("uid")
        uid = candidate if isinstance(candidate, str) else ""
    try:
        return AdmissionReview.model_validate(payload).request
    except (ValidationError, RecursionError) as exc:
        return _malformed(f"expected an admission.k8s.io/v1 AdmissionReview: {_first(exc)}", uid)


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return str(exc)


def _endpoint(name: str, review: Review) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        parsed = await _read_request(request)
        if isinstance(parsed, web.Response):
            ADMISSION_REQUESTS.labels(name, "", "malformed").inc()
            return parsed
        try:
            response = await review(parsed)
        except Exception as exc:  # an answer the API server can show beats a 500
            log.exception("admission handler failed", webhook=name, uid=parsed.uid)
            ADMISSION_REQUESTS.labels(name, parsed.operation, "error").inc()
            response = deny(parsed.uid, 500, "InternalError", f"kaito's {name} webhook failed: {exc!r}")
        return web.json_response(AdmissionReviewResponse(response=response).to_json())

    return handle


def build_app(handler: AdmissionHandler) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(VALIDATE_PATH, _endpoint("validate", handler.validate))
    app.router.add_post(MUTATE_PATH, _endpoint("mutate", handler.mutate))
    app.router.add_get(HEALTH_PATH, _healthz)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


class WebhookServer:
    """Serves the webhook app over HTTPS on host:port (port 0 picks a free one; see `.port`)."""

    def __init__(self, handler: AdmissionHandler, host: str, port: int, tls: SwappableTLS) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.tls = tls
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.tls.loaded:
            raise RuntimeError("load a certificate before starting the webhook server")
        self._runner = web.AppRunner(build_app(self.handler), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls.context)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        log.info("serving admission webhook", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
