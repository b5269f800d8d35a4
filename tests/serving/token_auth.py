"""A Docker token server for tests: RS256 JWTs (x5c header) the registry checks against its root bundle."""

from __future__ import annotations

import base64
import datetime
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SERVICE = "kaito-test-registry"
ISSUER = "kaito-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """A self-signed signing certificate and the users it trusts."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    users: dict[str, str]
    issued: int = 0

    @classmethod
    def create(cls, users: dict[str, str]) -> TokenIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kaito test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert, users)

    def write_bundle(self, path: Path) -> None:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def token(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",") if actions else []})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        self.issued += 1
        return f"{signing_input}.{_b64(signature)}"

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            header = request.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return web.json_response({"error": "credentials required"}, status=401)
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return web.json_response({"error": "bad credentials"}, status=401)
            if request.query.get("service") != SERVICE:
                return web.json_response({"error": "unknown service"}, status=400)
            return web.json_response({"token": self.token(user, request.query.getall("scope", []))})

        application = web.Application()
        application.router.add_get("/token", handle)
        return application
