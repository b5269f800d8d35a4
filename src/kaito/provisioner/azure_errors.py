"""Turns Azure SDK failures into CloudErrors that keep Azure's code and say what a person should do."""

from __future__ import annotations

from typing import Final

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from kaito.provisioner.cloud import CloudError

_QUOTA_CODES: Final = frozenset(
    {
        "QuotaExceeded",
        "ErrCode_InsufficientVCPUQuota",
        "InsufficientVCPUQuota",
        "OperationNotAllowed",
        "SubscriptionQuotaExceeded",
    }
)
_CAPACITY_CODES: Final = frozenset(
    {
        "SkuNotAvailable",
        "SKUNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "VMSizeNotSupported",
        "InvalidVMSize",
    }
)
_AUTHENTICATION_CODES: Final = frozenset(
    {
        "AuthenticationFailed",
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenTenant",
        "ExpiredAuthenticationToken",
    }
)
_AUTHORIZATION_CODES: Final = frozenset({"AuthorizationFailed", "LinkedAuthorizationFailed", "Forbidden"})
_MISSING_PARENT_CODES: Final = frozenset({"ResourceGroupNotFound", "ResourceNotFound", "NotFound"})
# Codes that only go away when the NodeClaim (or the cluster's configuration) changes.
_PERMANENT_CODES: Final = frozenset(
    {
        "InvalidParameter",
        "InvalidAgentPoolName",
        "AgentPoolNameInvalid",
        "InvalidTagNameCharacters",
        "InvalidApiVersionParameter",
        "BadRequest",
    }
)


def _hint(code: str, vm_size: str, location: str) -> str:
    where = f" in {location}" if location else ""
    if code in _QUOTA_CODES:
        return (
            f"the subscription has no quota left for {vm_size or 'this VM size'}{where}: request a quota "
            "increase for its VM family (Azure portal → Quotas) or choose another instanceType; kaito "
            "retries with backoff"
        )
    if code in _CAPACITY_CODES:
        return (
            f"{vm_size or 'this VM size'} is not available{where} right now: choose another instanceType or "
            "region; kaito retries with backoff"
        )
    if code in _AUTHENTICATION_CODES:
        return (
            "the provisioner could not authenticate to Azure: check its workload identity (service "
            "account annotation azure.workload.identity/client-id and the federated credential)"
        )
    if code in _AUTHORIZATION_CODES:
        return (
            "the provisioner's identity may not manage agent pools: grant it the Contributor role on the "
            "AKS cluster (or its resource group)"
        )
    if code in _MISSING_PARENT_CODES:
        return "the AKS cluster or resource group was not found: check the provisioner's Azure settings"
    if code in {"TooManyRequests", "Throttled"}:
        return "Azure is throttling requests; kaito retries with backoff"
    return "see the Azure error above; kaito retries with backoff"


def is_retryable_code(code: str) -> bool:
    """Whether an Azure error code can go away without the NodeClaim changing."""
    return code not in _PERMANENT_CODES


def classify_error_code(code: str, message: str, *, vm_size: str = "", location: str = "") -> CloudError:
    """A CloudError for an Azure error code and message (from a response or an agent pool's status)."""
    code = code or "Unknown"
    text = (
        f"{message.rstrip('.')}. Fix: {_hint(code, vm_size, location)}"
        if message
        else _hint(code, vm_size, location)
    )
    return CloudError(code, text, retryable=is_retryable_code(code))


def classify_azure_error(exc: AzureError, *, vm_size: str = "", location: str = "") -> CloudError:
    """Map any Azure SDK exception to a CloudError, keeping the ARM error code where there is one."""
    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        # Raised by the credential itself (no token could be obtained), before any ARM request.
        return classify_error_code("AuthenticationFailed", str(exc), vm_size=vm_size, location=location)
    if isinstance(exc, HttpResponseError):
        odata = exc.error
        code = (odata.code if odata is not None else None) or ""
        message = (odata.message if odata is not None else None) or exc.message or ""
        if not code:
            code = {401: "AuthenticationFailed", 403: "AuthorizationFailed", 429: "TooManyRequests"}.get(
                exc.status_code or 0, f"HTTP{exc.status_code}" if exc.status_code else "HttpResponseError"
            )
        return classify_error_code(code, message, vm_size=vm_size, location=location)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return CloudError(
            "ServiceUnavailable", f"could not reach Azure Resource Manager: {exc}; kaito retries"
        )
    return CloudError(type(exc).__name__, str(exc))
