"""Wires Validating/MutatingWebhookConfigurations into writes through ``schema.AdmissionChain``."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.apiserver.authn import ADMIN, UserInfo, current_user
from kaito.localcluster.apiserver.errors import REASON_BY_CODE, ApiError
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.storage import Obj, Storage
from kaito.localcluster.networking.endpoints import connect_address
from kaito.localcluster.schema import AdmissionChain, AdmissionDenied

_VALIDATING = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
_MUTATING = ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")


class WebhookAdmission:
    """The ObjectService admission hook: a no-op until some webhook configuration exists."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.chain = AdmissionChain(self._configs, self._resolve_service, self._namespace_labels)

    async def _configs(self) -> list[dict[str, Any]]:
        return self.storage.items(_MUTATING) + self.storage.items(_VALIDATING)

    async def _resolve_service(self, namespace: str, name: str, port: int) -> str:
        """Base URL of a Service-backed webhook: its Endpoints, else EndpointSlices, else its ClusterIP."""
        endpoints = self.storage.get(("", "endpoints"), namespace, name)
        for subset in (endpoints or {}).get("subsets") or ():
            addresses = subset.get("addresses") or []
            ports = subset.get("ports") or []
            if addresses and ports:
                target = _target_port(self.storage.get(("", "services"), namespace, name), port)
                chosen = next((p for p in ports if p.get("port") == target), ports[0])
                host, dialled = self._dial(namespace, addresses[0], int(chosen["port"]))
                return f"https://{host}:{dialled}"
        service = self.storage.get(("", "services"), namespace, name)
        target = _target_port(service, port)
        for endpoint_slice in self.storage.items(("discovery.k8s.io", "endpointslices"), namespace):
            if (endpoint_slice["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != name:
                continue
            ready = [
                e
                for e in endpoint_slice.get("endpoints") or ()
                if (e.get("conditions") or {}).get("ready", True)
            ]
            ports = endpoint_slice.get("ports") or []
            if ready and ready[0].get("addresses") and ports:
                chosen = next((p for p in ports if p.get("port") == target), ports[0])
                address = {"ip": ready[0]["addresses"][0], "targetRef": ready[0].get("targetRef")}
                host, dialled = self._dial(namespace, address, int(chosen["port"]))
                return f"https://{host}:{dialled}"
        cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            raise ApiError(500, f'service "{namespace}/{name}" has no endpoints', "InternalError")
        return f"https://{cluster_ip}:{port}"

    def _dial(self, namespace: str, address: dict[str, Any], port: int) -> tuple[str, int]:
        """Where an endpoint's port is reached: through its pod as the API server's proxy dials it (a runner
        pod's loopback port mapping), else at the endpoint's IP and port."""
        ref = address.get("targetRef") or {}
        if ref.get("kind") == "Pod":
            pod = self.storage.get(("", "pods"), ref.get("namespace") or namespace, str(ref.get("name", "")))
            reached = connect_address(pod, port) if pod is not None else None
            if reached is not None:
                return reached
        return str(address["ip"]), port

    async def _namespace_labels(self, namespace: str) -> dict[str, str] | None:
        ns = self.storage.get(("", "namespaces"), "", namespace)
        return dict(ns["metadata"].get("labels") or {}) if ns is not None else None

    async def __call__(
        self,
        operation: str,
        rtype: ResourceType,
        subresource: str,
        obj: Obj | None,
        old: Obj | None,
        dry_run: bool,
    ) -> Obj | None:
        if rtype.store_key in (_VALIDATING, _MUTATING):
            return obj
        if not self.storage.count(_VALIDATING) and not self.storage.count(_MUTATING):
            return obj
        meta = (obj or old or {}).get("metadata") or {}
        user = current_user.get() or ADMIN
        try:
            return await self.chain.admit(
                operation=operation,
                group=rtype.group,
                version=rtype.version,
                resource=rtype.resource,
                subresource=subresource,
                kind=rtype.kind,
                namespace=meta.get("namespace", ""),
                name=meta.get("name", ""),
                obj=obj,
                old=old,
                user=user.name,
                user_info=review_user_info(user),
                dry_run=dry_run,
            )
        except AdmissionDenied as denied:
            raise ApiError(
                denied.code, denied.message, denied.reason or REASON_BY_CODE.get(denied.code, "")
            ) from None
        except NotImplementedError:
            return obj


def review_user_info(user: UserInfo) -> dict[str, Any]:
    """AdmissionReview ``request.userInfo`` for ``user`` (the requester in the RBAC mode, else the admin)."""
    info: dict[str, Any] = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    if user.groups:
        info["groups"] = list(user.groups)
    return info


def _target_port(service: Obj | None, port: int) -> Any:
    for entry in ((service or {}).get("spec") or {}).get("ports") or ():
        if entry.get("port") == port:
            return entry.get("targetPort", port)
    return port
