"""Admission webhooks: Mutating/ValidatingWebhookConfigurations are called over HTTPS with caBundle."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes_asyncio import client as k8s

from kaito.localcluster.cluster import ThreadedLocalCluster


def self_signed(directory: Path, dns_name: str = "webhook.test.svc") -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName(dns_name)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, pem


async def _mutate(request: web.Request) -> web.Response:
    review = await request.json()
    patch = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
    response = {
        "uid": review["request"]["uid"],
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
    }
    return web.json_response(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
    )


async def _validate(request: web.Request) -> web.Response:
    review = await request.json()
    labels = review["request"]["object"]["metadata"].get("labels") or {}
    allowed = labels.get("deny") != "yes"
    response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "message": "denied by the test webhook"}
    return web.json_response(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
    )


@pytest.fixture
async def webhook_url(
    tmp_path: Path, embedded_cluster: ThreadedLocalCluster | None, namespace: str
) -> AsyncIterator[tuple[str, str]]:
    if embedded_cluster is None:
        pytest.skip("the test webhook listens on this machine's loopback, which a real cluster cannot reach")
    cert, key, pem = self_signed(tmp_path, f"hooks.{namespace}.svc")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_post("/mutate", _mutate)
    app.router.add_post("/validate", _validate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}", base64.b64encode(pem).decode()
    await runner.cleanup()


async def test_mutating_and_validating_webhooks(
    api_client: k8s.ApiClient, namespace: str, webhook_url: tuple[str, str]
) -> None:
    base, ca_bundle = webhook_url
    admission: Any = k8s.AdmissionregistrationV1Api(api_client)
    scope = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    rules = [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
    ]
    common = {
        "rules": rules,
        "namespaceSelector": scope,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
    }
    mutating = {
        "metadata": {"name": f"m-{namespace}"},
        "webhooks": [
            dict(
                common,
                name="mutate.test.kaito.sh",
                clientConfig={"url": f"{base}/mutate", "caBundle": ca_bundle},
            )
        ],
    }
    validating = {
        "metadata": {"name": f"v-{namespace}"},
        "webhooks": [
            dict(
                common,
                name="validate.test.kaito.sh",
                clientConfig={"url": f"{base}/validate", "caBundle": ca_bundle},
            )
        ],
    }
    await admission.create_mutating_webhook_configuration(mutating)
    await admission.create_validating_webhook_configuration(validating)
    try:
        core: Any = k8s.CoreV1Api(api_client)
        made = await core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "ok", "labels": {"a": "b"}}}
        )
        assert made.metadata.labels == {"a": "b", "mutated": "yes"}
        with pytest.raises(k8s.ApiException) as denied:
            await core.create_namespaced_config_map(
                namespace, {"metadata": {"name": "no", "labels": {"deny": "yes"}}}
            )
        assert denied.value.status == 403
        assert "denied by the test webhook" in json.loads(denied.value.body or b"{}")["message"]
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": f"elsewhere-{namespace}", "labels": {"deny": "yes"}}}
        )
        await core.delete_namespaced_config_map(f"elsewhere-{namespace}", "default")
    finally:
        await admission.delete_mutating_webhook_configuration(f"m-{namespace}")
        await admission.delete_validating_webhook_configuration(f"v-{namespace}")


async def test_service_backed_webhook_resolves_through_endpoints(
    api_client: k8s.ApiClient, namespace: str, webhook_url: tuple[str, str]
) -> None:
    base, ca_bundle = webhook_url
    port = int(base.rsplit(":", 1)[1])
    core: Any = k8s.CoreV1Api(api_client)
    await core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "hooks"},
            "spec": {"ports": [{"port": 443, "targetPort": port}], "selector": {"app": "hooks"}},
        },
    )
    await core.create_namespaced_endpoints(
        namespace,
        {
            "metadata": {"name": "hooks"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}],
        },
    )
    admission: Any = k8s.AdmissionregistrationV1Api(api_client)
    name = f"sv-{namespace}"
    await admission.create_validating_webhook_configuration(
        {
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": "validate.svc.test.kaito.sh",
                    "clientConfig": {
                        "service": {
                            "namespace": namespace,
                            "name": "hooks",
                            "path": "/validate",
                            "port": 443,
                        },
                        "caBundle": ca_bundle,
                    },
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["secrets"],
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "failurePolicy": "Fail",
                }
            ],
        }
    )
    try:
        await core.create_namespaced_secret(namespace, {"metadata": {"name": "fine"}})
        with pytest.raises(k8s.ApiException) as denied:
            await core.create_namespaced_secret(
                namespace, {"metadata": {"name": "no", "labels": {"deny": "yes"}}}
            )
        assert denied.value.status == 403
    finally:
        await admission.delete_validating_webhook_configuration(name)
