"""A real HTTPS admission webhook for the schema tests: its own CA and serving cert, scripted replies."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE_HOST = "webhook.kaito-system.svc"


def make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_serving_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVICE_HOST)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVICE_HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def pem_bundle(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def patch_response(uid: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    encoded = base64.b64encode(json.dumps(ops).encode()).decode()
    return {"uid": uid, "allowed": True, "patchType": "JSONPatch", "patch": encoded}


@dataclass
class WebhookServer:
    """A real HTTPS webhook: behaviour chosen by URL path; every review it receives is recorded."""

    port: int = 0
    ca_bundle: str = ""
    reviews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.reviews.append((request.path, review))
        req = review["request"]
        uid = req["uid"]
        labels = ((req.get("object") or {}).get("metadata") or {}).get("labels") or {}
        response: dict[str, Any]
        if request.path == "/deny":
            response = {
                "uid": uid,
                "allowed": False,
                "status": {"code": 422, "message": "resource.count must be 1"},
            }
        elif request.path == "/deny-silently":
            response = {"uid": uid, "allowed": False}
        elif request.path == "/mutate":
            response = patch_response(
                uid, [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
            )
        elif request.path == "/mutate-once":
            ops = (
                []
                if "first" in labels
                else [{"op": "add", "path": "/metadata/labels/first", "value": str(len(labels))}]
            )
            response = patch_response(uid, ops)
        elif request.path == "/slow":
            await asyncio.sleep(3)
            response = {"uid": uid, "allowed": True}
        elif request.path == "/wrong-uid":
            response = {"uid": "not-" + uid, "allowed": True}
        elif request.path == "/garbage":
            return web.Response(text="not json at all")
        else:
            response = {"uid": uid, "allowed": True, "warnings": ["looks fine"]}
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    def paths(self) -> list[str]:
        return [path for path, _ in self.reviews]


@asynccontextmanager
async def serve_webhook(folder: Path) -> AsyncIterator[WebhookServer]:
    """Run the webhook on 127.0.0.1 (a free port) with a fresh CA; its files go to ``folder``."""
    ca_key, ca = make_ca("test-ca")
    cert_pem, key_pem = make_serving_cert(ca_key, ca)
    (folder / "tls.crt").write_bytes(cert_pem)
    (folder / "tls.key").write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    hook = WebhookServer(ca_bundle=pem_bundle(ca))
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    hook.port = runner.addresses[0][1]
    try:
        yield hook
    finally:
        await runner.cleanup()
