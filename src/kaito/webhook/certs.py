"""The webhook's own CA and serving certificate (ECDSA P-256), and when they need renewing.

The CA lives long (10 years) and signs a shorter-lived serving certificate (1 year) that is renewed, by the
same CA, once less than `renew_before` remains, so the caBundle registered with the API server stays valid.
A CA near its own end is replaced by a new one; the old one stays in the bundle until it expires.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_CA_VALIDITY = datetime.timedelta(days=3650)
DEFAULT_CERT_VALIDITY = datetime.timedelta(days=365)
DEFAULT_RENEW_BEFORE = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(minutes=5)  # tolerate clocks a little behind ours


@dataclass(frozen=True)
class CertBundle:
    """PEM texts: the signing CA (cert and key), the serving pair, and any previous CA still trusted."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes
    previous_ca: bytes = b""

    @property
    def ca_bundle(self) -> bytes:
        """What clients must trust: the current CA, then the previous one while it is still valid."""
        return self.ca_cert + self.previous_ca

    @property
    def not_after(self) -> datetime.datetime:
        return x509.load_pem_x509_certificate(self.cert).not_valid_after_utc

    @property
    def ca_not_after(self) -> datetime.datetime:
        return x509.load_pem_x509_certificate(self.ca_cert).not_valid_after_utc

    def hosts(self) -> set[str]:
        """The DNS names and IP addresses the serving certificate is valid for."""
        cert = x509.load_pem_x509_certificate(self.cert)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return set()
        dns = set(names.get_values_for_type(x509.DNSName))
        return dns | {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


@dataclass(frozen=True)
class CertPolicy:
    """How long certificates live and how early they are renewed."""

    ca_validity: datetime.timedelta = DEFAULT_CA_VALIDITY
    cert_validity: datetime.timedelta = DEFAULT_CERT_VALIDITY
    renew_before: datetime.timedelta = DEFAULT_RENEW_BEFORE


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_ca(common_name: str, validity: datetime.timedelta) -> tuple[bytes, bytes]:
    """A self-signed CA certificate and key (PEM) that may sign only leaf certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def issue_serving_cert(
    ca_cert_pem: bytes, ca_key_pem: bytes, hosts: Sequence[str], validity: datetime.timedelta
) -> tuple[bytes, bytes]:
    """A server certificate and key (PEM) for `hosts` (DNS names or IP addresses), signed by the CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the webhook CA key must be an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = _now()
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def new_bundle(hosts: Sequence[str], policy: CertPolicy, ca_name: str = "kaito-webhook-ca") -> CertBundle:
    ca_cert, ca_key = generate_ca(ca_name, policy.ca_validity)
    cert, key = issue_serving_cert(ca_cert, ca_key, hosts, policy.cert_validity)
    return CertBundle(ca_cert=ca_cert, ca_key=ca_key, cert=cert, key=key)


def renewal_reason(
    bundle: CertBundle, hosts: Sequence[str], policy: CertPolicy, now: datetime.datetime | None = None
) -> str | None:
    """Why the bundle must be renewed now (near expiry, or missing a host), or None while it is good."""
    now = now or _now()
    if bundle.not_after - now < policy.renew_before:
        return f"serving certificate expires {bundle.not_after.isoformat()}"
    missing = set(hosts) - bundle.hosts()
    if missing:
        return f"serving certificate lacks {', '.join(sorted(missing))}"
    return None


def renew(
    bundle: CertBundle, hosts: Sequence[str], policy: CertPolicy, now: datetime.datetime | None = None
) -> CertBundle:
    """A new serving certificate from the same CA; a new CA too when the old one would not outlive it."""
    now = now or _now()
    if bundle.ca_not_after - now >= policy.renew_before + policy.cert_validity:
        cert, key = issue_serving_cert(bundle.ca_cert, bundle.ca_key, hosts, policy.cert_validity)
        return CertBundle(bundle.ca_cert, bundle.ca_key, cert, key, _still_valid(bundle.previous_ca, now))
    fresh = new_bundle(hosts, policy)
    previous = bundle.ca_cert if bundle.ca_not_after > now else b""
    return CertBundle(fresh.ca_cert, fresh.ca_key, fresh.cert, fresh.key, previous)


def _still_valid(pem: bytes, now: datetime.datetime) -> bytes:
    if not pem:
        return b""
    kept = [c for c in x509.load_pem_x509_certificates(pem) if c.not_valid_after_utc > now]
    return b"".join(_cert_pem(c) for c in kept)
