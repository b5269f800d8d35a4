"""The webhook's CA and serving certificates: names, chains, renewal and CA rollover."""

from __future__ import annotations

import datetime
import socket
import ssl

from cryptography import x509

from kaito.webhook.certs import CertPolicy, new_bundle, renew, renewal_reason

from .tls import LOCAL_HOSTS, ThreadedWebhook, client_context

DAY = datetime.timedelta(days=1)


def _peer_serial(port: int, context: ssl.SSLContext, server_hostname: str) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_bundle_covers_service_names_and_localhost() -> None:
    bundle = new_bundle(LOCAL_HOSTS, CertPolicy())
    assert bundle.hosts() == set(LOCAL_HOSTS)
    assert renewal_reason(bundle, LOCAL_HOSTS, CertPolicy()) is None
    lacking = renewal_reason(bundle, [*LOCAL_HOSTS, "other.svc"], CertPolicy())
    assert lacking is not None
    assert "lacks other.svc" in lacking


def test_tls_verifies_against_the_ca_for_dns_name_and_ip() -> None:
    server = ThreadedWebhook().start()
    try:
        context = client_context(server.bundle)
        serial = _peer_serial(server.server.port, context, "kaito-webhook.kaito-system.svc")
        assert serial == x509.load_pem_x509_certificate(server.bundle.cert).serial_number
        _peer_serial(server.server.port, context, "127.0.0.1")
        stranger = client_context(new_bundle(LOCAL_HOSTS, CertPolicy()))
        try:
            _peer_serial(server.server.port, stranger, "127.0.0.1")
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("a client trusting another CA must not accept our certificate")
    finally:
        server.stop()


def test_renewal_is_due_before_expiry_and_keeps_the_ca() -> None:
    short = CertPolicy(cert_validity=20 * DAY, renew_before=30 * DAY)
    bundle = new_bundle(LOCAL_HOSTS, short)
    reason = renewal_reason(bundle, LOCAL_HOSTS, short)
    assert reason is not None
    assert "expires" in reason
    renewed = renew(bundle, LOCAL_HOSTS, CertPolicy())
    assert renewed.ca_cert == bundle.ca_cert
    assert renewed.cert != bundle.cert
    assert renewed.previous_ca == b""
    assert renewed.not_after - datetime.datetime.now(datetime.UTC) > 300 * DAY


def test_a_ca_near_its_end_is_replaced_and_the_old_one_still_trusted() -> None:
    old = new_bundle(LOCAL_HOSTS, CertPolicy(ca_validity=40 * DAY, cert_validity=10 * DAY))
    assert old.not_after <= old.ca_not_after
    renewed = renew(old, LOCAL_HOSTS, CertPolicy())
    assert renewed.ca_cert != old.ca_cert
    assert renewed.previous_ca == old.ca_cert
    assert old.ca_cert in renewed.ca_bundle
    assert renewed.ca_cert in renewed.ca_bundle
    # Clients holding only the old CA still reach a server presenting the old certificate during rollover,
    # and clients holding the new bundle trust the new certificate.
    again = renew(renewed, LOCAL_HOSTS, CertPolicy())
    assert again.previous_ca == old.ca_cert
