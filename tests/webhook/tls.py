"""Test helpers: a webhook server on a thread of its own, and clients that trust its CA."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from kaito.webhook.certs import CertBundle, CertPolicy, new_bundle
from kaito.webhook.handler import AdmissionHandler
from kaito.webhook.server import SwappableTLS, WebhookServer

T = TypeVar("T")
LOCAL_HOSTS = ["kaito-webhook.kaito-system.svc", "localhost", "127.0.0.1"]


def client_context(bundle: CertBundle) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=bundle.ca_bundle.decode())


class ThreadedWebhook:
    """A WebhookServer on 127.0.0.1 (free port) in a background event loop, for sync clients."""

    def __init__(self, handler: AdmissionHandler | None = None, bundle: CertBundle | None = None) -> None:
        self.bundle = bundle or new_bundle(LOCAL_HOSTS, CertPolicy())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.tls = SwappableTLS()
        self.server = WebhookServer(handler or AdmissionHandler(), "127.0.0.1", 0, self.tls)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> ThreadedWebhook:
        self._thread.start()
        self.call(self.tls.load(self.bundle.cert, self.bundle.key))
        self.call(self.server.start())
        return self

    def stop(self) -> None:
        self.call(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self.tls.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"
