"""Where the webhook's certificates live: a Secret shared by every replica, or files mounted by someone else.

Replicas race on first start and on renewal; the API server's create (AlreadyExists) and resourceVersion
(Conflict) checks pick one winner and the others re-read and use its certificates.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from kaito.controllers.client import KubeClient
from kaito.controllers.errors import ConflictError, NotFoundError
from kaito.controllers.resource import SECRETS
from kaito.webhook.certs import CertBundle, CertPolicy, new_bundle, renew, renewal_reason

log = structlog.get_logger(__name__)

KEY_CA_CERT = "ca.crt"
KEY_CA_KEY = "ca.key"
KEY_CERT = "tls.crt"
KEY_KEY = "tls.key"
KEY_PREVIOUS_CA = "ca-previous.crt"
_ATTEMPTS = 6


def bundle_to_data(bundle: CertBundle) -> dict[str, str]:
    raw = {
        KEY_CA_CERT: bundle.ca_cert,
        KEY_CA_KEY: bundle.ca_key,
        KEY_CERT: bundle.cert,
        KEY_KEY: bundle.key,
        KEY_PREVIOUS_CA: bundle.previous_ca,
    }
    return {key: base64.b64encode(value).decode("ascii") for key, value in raw.items()}


def bundle_from_secret(secret: dict[str, Any]) -> CertBundle | None:
    """The bundle a Secret holds, or None when it lacks a key or holds something unreadable."""
    data = secret.get("data") or {}
    try:
        values = {key: base64.b64decode(data.get(key) or "", validate=True) for key in bundle_keys()}
        bundle = CertBundle(
            ca_cert=values[KEY_CA_CERT],
            ca_key=values[KEY_CA_KEY],
            cert=values[KEY_CERT],
            key=values[KEY_KEY],
            previous_ca=values[KEY_PREVIOUS_CA],
        )
        bundle.not_after  # noqa: B018 - parses the certificates
        bundle.ca_not_after  # noqa: B018
    except (binascii.Error, ValueError):
        return None
    if not (bundle.ca_key and bundle.key):
        return None
    return bundle


def bundle_keys() -> tuple[str, ...]:
    return (KEY_CA_CERT, KEY_CA_KEY, KEY_CERT, KEY_KEY, KEY_PREVIOUS_CA)


class SecretCertStore:
    """Keeps a valid CertBundle for `hosts` in Secret `namespace/name`, creating or renewing it as needed."""

    def __init__(
        self, client: KubeClient, namespace: str, name: str, hosts: Sequence[str], policy: CertPolicy
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.hosts = list(hosts)
        self.policy = policy

    async def ensure(self) -> CertBundle:
        """The Secret's bundle, after creating it if absent or renewing it if due (conflicts retried)."""
        for _ in range(_ATTEMPTS):
            try:
                secret = await self.client.get(SECRETS, self.name, self.namespace)
            except NotFoundError:
                secret = None
            if secret is None:
                bundle = await asyncio.to_thread(new_bundle, self.hosts, self.policy)
                try:
                    await self.client.create(SECRETS, self._secret(bundle), self.namespace)
                except ConflictError:
                    continue  # another replica created it first: use theirs
                log.info("created webhook certificate secret", secret=f"{self.namespace}/{self.name}")
                return bundle
            current = bundle_from_secret(secret)
            reason = (
                "unreadable certificates"
                if current is None
                else renewal_reason(current, self.hosts, self.policy)
            )
            if current is not None and reason is None:
                return current
            if current is None:
                bundle = await asyncio.to_thread(new_bundle, self.hosts, self.policy)
            else:
                bundle = await asyncio.to_thread(renew, current, self.hosts, self.policy)
            updated = dict(secret)
            updated["data"] = bundle_to_data(bundle)
            try:
                await self.client.update(SECRETS, updated)
            except ConflictError:
                continue  # another replica renewed it first: re-read
            log.info("renewed webhook certificates", secret=f"{self.namespace}/{self.name}", reason=reason)
            return bundle
        raise RuntimeError(f"could not settle webhook certificate Secret {self.namespace}/{self.name}")

    def _secret(self, bundle: CertBundle) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/name": "kaito", "app.kubernetes.io/component": "webhook"},
            },
            "type": "Opaque",
            "data": bundle_to_data(bundle),
        }


def read_cert_dir(directory: Path) -> tuple[bytes, bytes, bytes]:
    """A provided certificate (`tls.crt`, `tls.key`, optional `ca.crt`) from a directory (blocking I/O)."""
    cert = (directory / KEY_CERT).read_bytes()
    key = (directory / KEY_KEY).read_bytes()
    ca_path = directory / KEY_CA_CERT
    ca = ca_path.read_bytes() if ca_path.exists() else b""
    return cert, key, ca
