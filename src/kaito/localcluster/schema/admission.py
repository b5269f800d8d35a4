"""Calls Mutating/ValidatingWebhookConfigurations for a request, as kube-apiserver's admission chain does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ConfigSource = Callable[[], Awaitable[list[dict[str, Any]]]]
# (namespace, name, port) of a webhook's clientConfig.service -> base URL such as "https://127.0.0.1:4443".
ServiceResolver = Callable[[str, str, int], Awaitable[str]]
# namespace name -> its labels (for namespaceSelector); None when the namespace does not exist.
NamespaceLabels = Callable[[str], Awaitable[dict[str, str] | None]]


class AdmissionChain:
    """Runs mutating webhooks (in order, applying their JSONPatch) then validating webhooks."""

    def __init__(
        self,
        webhook_configs: ConfigSource,
        resolve_service: ServiceResolver,
        namespace_labels: NamespaceLabels | None = None,
    ) -> None:
        """``webhook_configs`` returns all Mutating/ValidatingWebhookConfiguration objects (told apart by kind)."""
        self._webhook_configs = webhook_configs
        self._resolve_service = resolve_service
        self._namespace_labels = namespace_labels

    async def admit(
        self,
        *,
        operation: str,
        group: str,
        version: str,
        resource: str,
        subresource: str,
        kind: str,
        namespace: str,
        name: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        user: str,
        dry_run: bool,
    ) -> dict[str, Any] | None:
        """Return the (possibly mutated) object; raise AdmissionDenied on a denial or a Fail-policy error.

        ``operation`` is CREATE, UPDATE, DELETE or CONNECT; ``subresource`` is "" for the main resource.
        """
        raise NotImplementedError
