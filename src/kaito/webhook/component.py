"""The webhook as one operator component: certificates, the HTTPS server, registration, renewal.

It runs on every replica (not only the leader): the API server may call any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog
from cryptography import x509

from kaito.controllers.client import KubeClient
from kaito.validation import ValidationPolicy
from kaito.webhook.certstore import SecretCertStore, read_cert_dir
from kaito.webhook.handler import AdmissionHandler
from kaito.webhook.lookups import KubeLookups
from kaito.webhook.metrics import CERTIFICATE_NOT_AFTER, CERTIFICATE_ROTATIONS
from kaito.webhook.registration import register
from kaito.webhook.server import SwappableTLS, WebhookServer
from kaito.webhook.settings import WebhookSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServingMaterial:
    """What the server presents (cert, key) and what the API server must trust (ca_bundle, maybe empty)."""

    cert: bytes
    key: bytes
    ca_bundle: bytes


class WebhookComponent:
    """Start with `start()` (or `run(stop)`); `refresh()` re-checks the certificate and the registration."""

    def __init__(
        self, settings: WebhookSettings, client: KubeClient | None, handler: AdmissionHandler | None = None
    ) -> None:
        if client is None and (settings.cert_dir is None or settings.register_configs):
            raise ValueError(
                "the webhook needs an API client unless it uses --webhook-cert-dir without registering"
            )
        self.settings = settings
        self.client = client
        self.handler = handler or AdmissionHandler(
            KubeLookups(client) if client is not None else None,
            policy=ValidationPolicy(allow_private_urls=settings.allow_private_urls),
            lookup_timeout_s=settings.lookup_timeout_s,
        )
        self.tls = SwappableTLS()
        self.server = WebhookServer(self.handler, settings.host, settings.port, self.tls)
        self.material: ServingMaterial | None = None
        self._store = (
            SecretCertStore(
                client,
                settings.service_namespace,
                settings.secret_name,
                settings.hosts(),
                settings.cert_policy(),
            )
            if client is not None and settings.cert_dir is None
            else None
        )
        self._refresher: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self._use(await self._load())
        await self.server.start()
        await self._register()
        self._refresher = asyncio.create_task(self._refresh_forever(), name="webhook certificate refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self.server.stop()
        self.tls.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def refresh(self) -> bool:
        """Reload (and if due, renew) the certificate; swap it in and re-register if it changed.

        Returns whether the serving certificate changed."""
        material = await self._load()
        changed = self.material is None or material.cert != self.material.cert
        if changed:
            await self._use(material)
            CERTIFICATE_ROTATIONS.inc()
            log.info("webhook serving certificate swapped", not_after=_not_after(material.cert))
        await self._register()
        return changed

    async def _load(self) -> ServingMaterial:
        if self._store is not None:
            bundle = await self._store.ensure()
            return ServingMaterial(bundle.cert, bundle.key, bundle.ca_bundle)
        assert self.settings.cert_dir is not None
        cert, key, ca = await asyncio.to_thread(read_cert_dir, self.settings.cert_dir)
        return ServingMaterial(cert, key, ca)

    async def _use(self, material: ServingMaterial) -> None:
        await self.tls.load(material.cert, material.key)
        self.material = material
        CERTIFICATE_NOT_AFTER.set(_not_after(material.cert))

    async def _register(self) -> None:
        if not self.settings.register_configs or self.client is None or self.material is None:
            return
        if not self.material.ca_bundle:
            log.info("no CA for the provided certificate; leaving caBundle injection to someone else")
        await register(self.client, self.settings.registration(self.server.port), self.material.ca_bundle)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # keep serving the current certificate and retry
                log.warning("webhook certificate refresh failed; will retry", error=repr(exc))


def _not_after(cert_pem: bytes) -> float:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc.timestamp()
