"""Calls Mutating/ValidatingWebhookConfigurations for a request, as kube-apiserver's admission chain does.

Mutating webhooks run one after another in configuration-name order (their base64 JSONPatch applied to the
object), with one extra round for ``reinvocationPolicy: IfNeeded`` when a later webhook changed the object;
validating webhooks then run concurrently. Not supported: ``matchPolicy: Equivalent`` (exact matches only)
and the ``authorizer`` variable in matchConditions.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from pydantic import ValidationError

from kaito.localcluster.schema.admission_call import WebhookCallError, call_webhook
from kaito.localcluster.schema.admission_match import (
    MatchConditionError,
    match_conditions_pass,
    rule_matches,
    selector_matches,
)
from kaito.localcluster.schema.admission_models import AdmissionResponse, Webhook, WebhookConfiguration
from kaito.localcluster.schema.errors import AdmissionDenied, PatchError
from kaito.localcluster.schema.jsonpatch import json_patch
from kaito.localcluster.schema.jsonvalue import json_equal

log = structlog.get_logger(__name__)

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
        """``webhook_configs`` returns every Mutating/ValidatingWebhookConfiguration (told apart by kind)."""
        self._webhook_configs = webhook_configs
        self._resolve_service = resolve_service
        self._namespace_labels = namespace_labels
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the pooled HTTPS connections to webhooks (call once at shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

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
        user_info: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Return the (possibly mutated) object; raise AdmissionDenied on a denial or a Fail-policy error.

        ``operation`` is CREATE, UPDATE, DELETE or CONNECT; ``subresource`` is "" for the main resource.
        ``user_info`` (username, uid, groups) is sent as ``request.userInfo``; without it, ``user`` alone.
        """
        mutating, validating = await self._load()
        if not mutating and not validating:
            return obj
        request: dict[str, Any] = {
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": user_info or {"username": user},
            "oldObject": old,
            "dryRun": dry_run,
        }
        if subresource:
            request["subResource"] = subresource
            request["requestSubResource"] = subresource
        scope = _Scope(operation, group, version, resource, subresource, namespace)
        return await self._run(self._http(), mutating, validating, scope, request, obj, old, dry_run)

    async def _run(
        self,
        session: aiohttp.ClientSession,
        mutating: list[Webhook],
        validating: list[Webhook],
        scope: _Scope,
        request: dict[str, Any],
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        dry_run: bool,
    ) -> dict[str, Any] | None:
        current = copy.deepcopy(obj)
        ran_if_needed: list[Webhook] = []
        changed_after_if_needed = False
        for hook in mutating:
            if not await self._matches(hook, scope, current, old, request):
                continue
            patched = await self._mutate(session, hook, request, current, dry_run)
            if not json_equal(patched, current) and ran_if_needed:
                changed_after_if_needed = True
            current = patched
            if hook.reinvocation_policy == "IfNeeded":
                ran_if_needed.append(hook)
        if changed_after_if_needed:
            for hook in ran_if_needed:
                current = await self._mutate(session, hook, request, current, dry_run)
        matching = [hook for hook in validating if await self._matches(hook, scope, current, old, request)]
        results = await asyncio.gather(
            *(self._review(session, hook, request, current, dry_run) for hook in matching),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return current

    async def _load(self) -> tuple[list[Webhook], list[Webhook]]:
        mutating: list[tuple[str, list[Webhook]]] = []
        validating: list[tuple[str, list[Webhook]]] = []
        for raw in await self._webhook_configs():
            try:
                config = WebhookConfiguration.model_validate(raw)
            except ValidationError as exc:
                log.warning("skipping malformed webhook configuration", error=str(exc))
                continue
            if config.kind == "MutatingWebhookConfiguration":
                mutating.append((config.name, config.webhooks))
            elif config.kind == "ValidatingWebhookConfiguration":
                validating.append((config.name, config.webhooks))
        return (
            [hook for _, hooks in sorted(mutating, key=lambda e: e[0]) for hook in hooks],
            [hook for _, hooks in sorted(validating, key=lambda e: e[0]) for hook in hooks],
        )

    async def _matches(
        self,
        hook: Webhook,
        scope: _Scope,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        request: dict[str, Any],
    ) -> bool:
        if not any(
            rule_matches(
                rule.model_dump(by_alias=True),
                operation=scope.operation,
                group=scope.group,
                version=scope.version,
                resource=scope.resource,
                subresource=scope.subresource,
                namespaced=bool(scope.namespace),
            )
            for rule in hook.rules
        ):
            return False
        if hook.namespace_selector and (scope.namespace or scope.resource == "namespaces"):
            labels = await self._labels_of_namespace(scope, obj, old)
            if not selector_matches(hook.namespace_selector, labels):
                return False
        if hook.object_selector and not (
            selector_matches(hook.object_selector, _labels(obj))
            or selector_matches(hook.object_selector, _labels(old))
        ):
            return False
        variables = {"object": obj, "oldObject": old, "request": request}
        try:
            return match_conditions_pass([c.model_dump() for c in hook.match_conditions], variables)
        except MatchConditionError as exc:
            if hook.failure_policy == "Ignore":
                log.warning("matchCondition failed; webhook skipped", webhook=hook.name, error=str(exc))
                return False
            raise AdmissionDenied(
                500, f'Internal error occurred: failed calling webhook "{hook.name}": {exc}', "InternalError"
            ) from exc

    async def _labels_of_namespace(
        self, scope: _Scope, obj: dict[str, Any] | None, old: dict[str, Any] | None
    ) -> dict[str, str]:
        if scope.resource == "namespaces" and not scope.namespace:
            return _labels(obj or old)
        if self._namespace_labels is None:
            return {}
        return await self._namespace_labels(scope.namespace) or {}

    async def _mutate(
        self,
        session: aiohttp.ClientSession,
        hook: Webhook,
        request: dict[str, Any],
        obj: dict[str, Any] | None,
        dry_run: bool,
    ) -> dict[str, Any] | None:
        response = await self._review(session, hook, request, obj, dry_run)
        if response is None or not response.patch or obj is None:
            return obj
        if response.patch_type not in (None, "JSONPatch"):
            raise _internal(hook, f"unsupported patch type {response.patch_type!r}")
        try:
            ops = json.loads(base64.b64decode(response.patch))
            return json_patch(obj, ops)
        except (ValueError, PatchError) as exc:
            raise _internal(hook, f"failed to apply the webhook's patch: {exc}") from exc

    async def _review(
        self,
        session: aiohttp.ClientSession,
        hook: Webhook,
        request: dict[str, Any],
        obj: dict[str, Any] | None,
        dry_run: bool,
    ) -> AdmissionResponse | None:
        """Send one AdmissionReview; None when a failing Ignore-policy webhook is skipped."""
        if dry_run and hook.side_effects not in ("None", "NoneOnDryRun"):
            raise AdmissionDenied(
                400, f'admission webhook "{hook.name}" does not support dry run', "BadRequest"
            )
        if "v1" not in hook.admission_review_versions:
            self._failed(hook, "no supported admissionReviewVersions (only v1 is)")
            return None
        uid = str(uuid.uuid4())
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {**request, "uid": uid, "object": obj},
        }
        try:
            response = await call_webhook(session, hook, review, self._resolve_service)
        except WebhookCallError as exc:
            self._failed(hook, str(exc))
            return None
        if response.uid != uid:
            self._failed(hook, f"expected response.uid={uid!r}, got {response.uid!r}")
            return None
        for warning in response.warnings:
            log.info("admission webhook warning", webhook=hook.name, warning=warning)
        if not response.allowed:
            status = response.status
            message = status.message if status else ""
            text = (
                f'admission webhook "{hook.name}" denied the request: {message}'
                if message
                else f'admission webhook "{hook.name}" denied the request without explanation'
            )
            code = status.code if status and status.code else 403
            raise AdmissionDenied(code, text, (status.reason if status else "") or "Forbidden")
        return response

    def _failed(self, hook: Webhook, reason: str) -> None:
        if hook.failure_policy == "Ignore":
            log.warning(
                "admission webhook failed; ignored by its failurePolicy", webhook=hook.name, error=reason
            )
            return
        raise _internal(hook, reason)


def _internal(hook: Webhook, reason: str) -> AdmissionDenied:
    message = f'Internal error occurred: failed calling webhook "{hook.name}": {reason}'
    return AdmissionDenied(500, message, "InternalError")


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    if not obj:
        return {}
    return dict((obj.get("metadata") or {}).get("labels") or {})


@dataclass(frozen=True, slots=True)
class _Scope:
    """The coordinates of the request that rules match against."""

    operation: str
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str
