"""One HTTPS AdmissionReview call: resolve the webhook's address, verify its certificate, parse the reply."""

from __future__ import annotations

import base64
import binascii
import ssl
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from kaito.localcluster.schema.admission_models import AdmissionResponse, AdmissionReviewReply, Webhook


class WebhookCallError(Exception):
    """The webhook could not be reached or answered nonsense (worded like kube-apiserver's errors)."""


async def call_webhook(
    session: aiohttp.ClientSession, hook: Webhook, review: dict[str, Any], resolve_service: Any
) -> AdmissionResponse:
    """POST ``review`` to ``hook`` and return its response; raise WebhookCallError on any failure.

    For ``clientConfig.service`` the TCP connection goes to ``resolve_service(namespace, name, port)`` while
    TLS verifies the certificate for ``<name>.<namespace>.svc``, as in a real cluster.
    """
    config = hook.client_config
    server_hostname: str | None = None
    if config.service is not None:
        service = config.service
        base = (await resolve_service(service.namespace, service.name, service.port)).rstrip("/")
        url = base + (service.path or "")
        shown = f"https://{service.name}.{service.namespace}.svc:{service.port}{service.path or ''}"
        server_hostname = f"{service.name}.{service.namespace}.svc"
    elif config.url:
        url = shown = config.url
    else:
        raise WebhookCallError("failed to call webhook: neither url nor service is set in clientConfig")
    if urlsplit(url).scheme != "https":
        raise WebhookCallError(f'failed to call webhook: webhook URL "{shown}" must use the https scheme')
    timeout = f"{hook.timeout_seconds}s"
    separator = "&" if "?" in url else "?"
    try:
        context = _ssl_context(config.ca_bundle)
    except (ValueError, ssl.SSLError, binascii.Error) as exc:
        raise WebhookCallError(f"failed to call webhook: invalid caBundle: {exc}") from exc
    request_options: dict[str, Any] = {
        "json": review,
        "timeout": aiohttp.ClientTimeout(total=hook.timeout_seconds),
        "ssl": context,
    }
    if server_hostname:
        request_options["server_hostname"] = server_hostname
    try:
        async with session.post(f"{url}{separator}timeout={timeout}", **request_options) as reply:
            if reply.status != 200:
                text = (await reply.text())[:200]
                raise WebhookCallError(
                    f'failed to call webhook: Post "{shown}?timeout={timeout}": status {reply.status}: {text}'
                )
            body = await reply.json(content_type=None)
    except TimeoutError as exc:
        raise WebhookCallError(
            f'failed to call webhook: Post "{shown}?timeout={timeout}": context deadline exceeded'
        ) from exc
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        raise WebhookCallError(f'failed to call webhook: Post "{shown}?timeout={timeout}": {exc}') from exc
    try:
        return AdmissionReviewReply.model_validate(body).response
    except ValidationError as exc:
        raise WebhookCallError(
            "received invalid webhook response: expected an admission.k8s.io/v1 AdmissionReview: "
            + str(exc.errors()[0]["msg"])
        ) from exc


@lru_cache(maxsize=64)
def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Trust exactly the configured CA bundle (base64 PEM), or the system roots when none is given."""
    if not ca_bundle:
        return ssl.create_default_context()
    pem = base64.b64decode(ca_bundle, validate=True).decode("ascii")
    return ssl.create_default_context(cadata=pem)
