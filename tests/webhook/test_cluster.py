"""The webhook against a real API server (the embedded cluster): certificates in a shared Secret, the
configurations registered with our caBundle, kubectl seeing field messages, rotation with no failed call.

Each test registers configurations that match only its own namespace and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes_asyncio import client as k8s

from kaito.controllers.client import KubeClient
from kaito.controllers.resource import SECRETS
from kaito.webhook import WebhookComponent, WebhookSettings, unregister
from kaito.webhook.certs import CertBundle, CertPolicy, issue_serving_cert, new_bundle
from kaito.webhook.certstore import SecretCertStore, bundle_from_secret, bundle_to_data
from kaito.webhook.registration import MUTATING_CONFIGURATIONS, VALIDATING_CONFIGURATIONS
from kaito.webhook.server import VALIDATE_PATH
from validation.manifests import adapters, changed, inference, removed

from .reviews import review

Kubectl = Any


def _settings(namespace: str, **overrides: Any) -> WebhookSettings:
    return WebhookSettings(
        host="127.0.0.1",
        port=0,
        service_namespace=namespace,
        url_host="127.0.0.1",
        namespace_selector={"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        validating_name=f"kaito-validation-{namespace}",
        mutating_name=f"kaito-defaulting-{namespace}",
        check_interval_s=3600,
        **overrides,
    )


@pytest.fixture
def client(api_client: k8s.ApiClient) -> KubeClient:
    return KubeClient(api_client)


@pytest.fixture
async def webhook(client: KubeClient, namespace: str) -> AsyncIterator[WebhookComponent]:
    component = WebhookComponent(_settings(namespace), client)
    await component.start()
    try:
        yield component
    finally:
        await component.stop()
        await unregister(client, component.settings.registration(component.port))


def _manifest(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj)


async def _kubectl(kubectl: Kubectl, *args: str, input: str | None = None, check: bool = True) -> Any:
    # A thread: the webhook answering the API server runs on this event loop.
    return await asyncio.to_thread(kubectl, *args, input=input, check=check)


def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


async def test_replicas_share_one_secret(client: KubeClient, namespace: str) -> None:
    hosts = ["kaito-webhook.x.svc", "localhost"]
    stores = [SecretCertStore(client, namespace, "webhook-cert", hosts, CertPolicy()) for _ in range(4)]
    first = await asyncio.gather(*(store.ensure() for store in stores))
    assert len({bundle.cert for bundle in first}) == 1

    # A certificate close to expiry (same CA) is renewed once, and every replica ends up with the renewal.
    soon = issue_serving_cert(first[0].ca_cert, first[0].ca_key, hosts, _days(5))
    secret = await client.get(SECRETS, "webhook-cert", namespace)
    secret["data"] = bundle_to_data(CertBundle(first[0].ca_cert, first[0].ca_key, soon[0], soon[1]))
    await client.update(SECRETS, secret)
    renewed = await asyncio.gather(*(store.ensure() for store in stores))
    assert len({bundle.cert for bundle in renewed}) == 1
    assert renewed[0].cert not in (soon[0], first[0].cert)
    assert renewed[0].ca_cert == first[0].ca_cert
    stored = bundle_from_secret(await client.get(SECRETS, "webhook-cert", namespace))
    assert stored is not None
    assert stored.cert == renewed[0].cert


async def test_kubectl_sees_field_messages_and_defaults(
    webhook: WebhookComponent, client: KubeClient, namespace: str, kubectl: Kubectl
) -> None:
    assert webhook.material is not None
    for resource, name in (
        (VALIDATING_CONFIGURATIONS, webhook.settings.validating_name),
        (MUTATING_CONFIGURATIONS, webhook.settings.mutating_name),
    ):
        config = await client.get(resource, name)
        hook = config["webhooks"][0]
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == webhook.material.ca_bundle
        assert hook["clientConfig"]["url"].startswith(f"https://127.0.0.1:{webhook.port}/")

    # Passes the CRD's schema, so the API server calls the webhook, which names every problem.
    bad = changed(adapters(), "resource.instanceType", "Standard_NC6s_v9")
    bad = changed(bad, "inference.adapters.0.source.image", "REGISTRY/ADAPTER:0.0.1")
    bad = changed(bad, "metadata.annotations", {"kaito.sh/enablelb": "yes"})
    denied = await _kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(bad), check=False)
    assert denied.returncode != 0
    assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in denied.stderr
    assert (
        "* resource.instanceType: unknown GPU instance type 'Standard_NC6s_v9'; did you mean" in denied.stderr
    )
    assert "* inference.adapters[0].source.image: repository 'ADAPTER' must be lowercase" in denied.stderr
    assert '* metadata.annotations["kaito.sh/enablelb"]: must be "True"' in denied.stderr

    good = removed(inference(), "resource.count") if "count" in inference()["resource"] else inference()
    await _kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(good))
    stored = json.loads(
        (
            await _kubectl(
                kubectl, "get", "workspace", good["metadata"]["name"], "-n", namespace, "-o", "json"
            )
        ).stdout
    )
    assert stored["metadata"]["annotations"]["kaito.sh/runtime"] == "vllm"
    assert stored["resource"]["count"] == 1

    # Updates are checked too (the CRD's CEL rules already guard the fixed fields).
    relabelled = changed(good, "metadata.annotations", {"kaito.sh/enablelb": "maybe"})
    refused = await _kubectl(
        kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(relabelled), check=False
    )
    assert refused.returncode != 0
    assert '* metadata.annotations["kaito.sh/enablelb"]: must be "True"' in refused.stderr


class _Hammer:
    """Calls the webhook over fresh TLS connections until stopped; records failures and certificates seen."""

    def __init__(self, port: int, ca_bundle: bytes) -> None:
        self.port = port
        self.ca_bundle = ca_bundle
        self.failures: list[str] = []
        self.serials: list[int] = []
        self.calls = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        context = ssl.create_default_context(cadata=self.ca_bundle.decode())
        body = json.dumps(review(inference())).encode()
        head = (
            f"POST {VALIDATE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=context)
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                self.serials.append(x509.load_der_x509_certificate(der).serial_number)
                writer.write(head + body)
                reply = await reader.read()
                writer.close()
                status_line, _, rest = reply.partition(b"\r\n")
                payload = json.loads(rest.partition(b"\r\n\r\n")[2])
                if b" 200 " not in status_line or not payload["response"]["allowed"]:
                    self.failures.append(f"{status_line!r}: {payload}")
            except Exception as exc:
                self.failures.append(repr(exc))
            self.calls += 1

    def stop(self) -> None:
        self._stop.set()


async def _until(condition: Any, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - plain state updated by another task
            await asyncio.sleep(0.01)


async def test_rotation_swaps_the_certificate_without_failed_calls(
    webhook: WebhookComponent, client: KubeClient, namespace: str, kubectl: Kubectl
) -> None:
    assert webhook.material is not None
    before = webhook.material
    hammer = _Hammer(webhook.port, before.ca_bundle)
    task = asyncio.create_task(hammer.run())
    try:
        await _until(lambda: hammer.calls >= 5)
        # Someone (another replica, or time) left a certificate that is due for renewal in the Secret.
        secret = await client.get(SECRETS, webhook.settings.secret_name, namespace)
        current = bundle_from_secret(secret)
        assert current is not None
        cert, key = issue_serving_cert(current.ca_cert, current.ca_key, webhook.settings.hosts(), _days(3))
        secret["data"] = bundle_to_data(CertBundle(current.ca_cert, current.ca_key, cert, key))
        await client.update(SECRETS, secret)
        assert await webhook.refresh()
        after = webhook.material
        assert after is not None
        assert _serial(after.cert) not in (_serial(before.cert), _serial(cert))
        calls_at_swap = hammer.calls
        await _until(lambda: hammer.calls >= calls_at_swap + 5)
    finally:
        hammer.stop()
        await task
    assert hammer.failures == []
    assert _serial(before.cert) in hammer.serials
    assert hammer.serials[-1] == _serial(after.cert)
    # The caBundle did not need to change, and the API server still reaches the webhook.
    assert after.ca_bundle == before.ca_bundle
    await _kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(inference()))


async def test_ca_rollover_updates_the_registered_bundle(
    webhook: WebhookComponent, client: KubeClient, namespace: str, kubectl: Kubectl
) -> None:
    hosts = webhook.settings.hosts()
    dying = new_bundle(hosts, CertPolicy(ca_validity=_days(20), cert_validity=_days(10)))
    secret = await client.get(SECRETS, webhook.settings.secret_name, namespace)
    secret["data"] = bundle_to_data(dying)
    await client.update(SECRETS, secret)
    assert await webhook.refresh()
    material = webhook.material
    assert material is not None
    assert dying.ca_cert in material.ca_bundle
    assert material.ca_bundle != dying.ca_cert
    config = await client.get(VALIDATING_CONFIGURATIONS, webhook.settings.validating_name)
    assert base64.b64decode(config["webhooks"][0]["clientConfig"]["caBundle"]) == material.ca_bundle
    await _kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(inference()))


async def test_provided_certificate_directory(
    client: KubeClient, namespace: str, kubectl: Kubectl, tmp_path: Path
) -> None:
    bundle = new_bundle(["localhost", "127.0.0.1"], CertPolicy())
    for name, data in (("tls.crt", bundle.cert), ("tls.key", bundle.key), ("ca.crt", bundle.ca_cert)):
        (tmp_path / name).write_bytes(data)
    component = WebhookComponent(_settings(namespace, cert_dir=tmp_path), client)
    await component.start()
    try:
        bad = changed(inference(), "metadata.name", "Bad-Name")
        denied = await _kubectl(
            kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(bad), check=False
        )
        assert "metadata.name" in denied.stderr
        assert not await component.refresh()
        replacement = issue_serving_cert(bundle.ca_cert, bundle.ca_key, ["127.0.0.1"], _days(30))
        (tmp_path / "tls.crt").write_bytes(replacement[0])
        (tmp_path / "tls.key").write_bytes(replacement[1])
        assert await component.refresh()
        await _kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=_manifest(inference()))
    finally:
        await component.stop()
        await unregister(client, component.settings.registration(component.port))


def _days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)
