"""Answers AdmissionReviews for Workspaces: validation (every field issue, or allowed) and defaulting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from kaito.validation import (
    FieldIssue,
    Lookups,
    ValidationPolicy,
    default_workspace,
    validate_workspace,
    validate_workspace_async,
)
from kaito.webhook.metrics import ADMISSION_REQUESTS, ADMISSION_SECONDS
from kaito.webhook.review import AdmissionRequest, AdmissionResponse, StatusCause, allow, deny

log = structlog.get_logger(__name__)

DEFAULT_LOOKUP_TIMEOUT_S = 5.0


def denial_message(name: str, issues: list[FieldIssue]) -> str:
    """`Workspace "x" is invalid:` then one `field: message` line per issue."""
    shown = f'Workspace "{name}"' if name else "Workspace"
    return f"{shown} is invalid:\n" + "\n".join(f"* {item}" for item in issues)


class AdmissionHandler:
    """The webhook's logic, independent of HTTP: `validate` and `mutate` each take one request."""

    def __init__(
        self,
        lookups: Lookups | None = None,
        *,
        policy: ValidationPolicy | None = None,
        lookup_timeout_s: float = DEFAULT_LOOKUP_TIMEOUT_S,
    ) -> None:
        self.lookups = lookups
        self.policy = policy or ValidationPolicy()
        self.lookup_timeout_s = lookup_timeout_s

    async def validate(self, request: AdmissionRequest) -> AdmissionResponse:
        started = time.perf_counter()
        response = await self._validate(request)
        result = "allowed" if response.allowed else "denied"
        ADMISSION_REQUESTS.labels("validate", request.operation, result).inc()
        ADMISSION_SECONDS.labels("validate").observe(time.perf_counter() - started)
        return response

    async def mutate(self, request: AdmissionRequest) -> AdmissionResponse:
        started = time.perf_counter()
        response = self._mutate(request)
        result = "patched" if response.patch else "allowed"
        ADMISSION_REQUESTS.labels("mutate", request.operation, result).inc()
        ADMISSION_SECONDS.labels("mutate").observe(time.perf_counter() - started)
        return response

    def _applies(self, request: AdmissionRequest) -> bool:
        """Only creates and updates of the Workspace itself are checked (not status/scale writes)."""
        return request.operation in ("CREATE", "UPDATE") and not request.sub_resource

    async def _validate(self, request: AdmissionRequest) -> AdmissionResponse:
        if not self._applies(request):
            return allow(request.uid)
        new = request.object
        old = request.old_object if request.operation == "UPDATE" else None
        if not isinstance(new, dict):
            return deny(request.uid, 400, "BadRequest", "the request carries no Workspace object")
        issues, warnings = await self._issues(request, new, old)
        name = request.name or _name_of(new)
        if issues:
            causes = [
                StatusCause(type=item.reason, field=item.field, message=item.message) for item in issues
            ]
            response = deny(request.uid, 422, "Invalid", denial_message(name, issues), causes)
            log.info(
                "workspace denied",
                namespace=request.namespace,
                name=name,
                operation=request.operation,
                issues=[str(item) for item in issues],
            )
            return response.model_copy(update={"warnings": warnings})
        return allow(request.uid, warnings)

    async def _issues(
        self, request: AdmissionRequest, new: dict[str, Any], old: Any
    ) -> tuple[list[FieldIssue], list[str]]:
        extra_warnings: list[str] = []
        old_obj = old if isinstance(old, dict) else None
        if self.lookups is None:
            found = validate_workspace(new, old_obj, policy=self.policy)
        else:
            try:
                found = await asyncio.wait_for(
                    validate_workspace_async(
                        new,
                        old_obj,
                        lookups=self.lookups,
                        namespace=request.namespace or None,
                        policy=self.policy,
                    ),
                    self.lookup_timeout_s,
                )
            except Exception as exc:  # the API being slow or down must not block admission
                log.warning("admission lookups failed; checking without them", error=repr(exc))
                found = validate_workspace(new, old_obj, policy=self.policy)
                extra_warnings.append(
                    "kaito could not read referenced ConfigMaps or nodes from the API server; the operator "
                    "checks them again when it reconciles this Workspace"
                )
        errors = [item for item in found if item.is_error]
        warnings = [str(item) for item in found if not item.is_error] + extra_warnings
        return errors, warnings

    def _mutate(self, request: AdmissionRequest) -> AdmissionResponse:
        if not self._applies(request) or not isinstance(request.object, dict):
            return allow(request.uid)
        try:
            ops = default_workspace(request.object)
        except Exception as exc:  # defaulting must never block a write; validation reports
            log.warning("defaulting failed; admitting unchanged", error=repr(exc))
            return allow(request.uid)
        return allow(request.uid).with_patch(ops)


def _name_of(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""
