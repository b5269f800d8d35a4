"""Keeps each selector Service's Endpoints and EndpointSlices equal to the pods it selects."""

from __future__ import annotations

from typing import Any

from kaito.localcluster.builtins.client import KubeClient, Resource, is_status
from kaito.localcluster.builtins.informer import Informer, Obj, object_key
from kaito.localcluster.builtins.workqueue import Controller
from kaito.localcluster.networking.endpoints import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    SKIP_MIRROR_LABEL,
    endpoint_slice_bodies,
    endpoints_body,
    pod_endpoints,
    selector_of,
)

SERVICES = Resource("v1", "services")
ENDPOINTS = Resource("v1", "endpoints")
ENDPOINT_SLICES = Resource("discovery.k8s.io/v1", "endpointslices")


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _slice_service(obj: Obj) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME_LABEL):
        return None
    return f"{_namespace(obj)}/{labels[SERVICE_NAME_LABEL]}"


def _content(obj: Obj | None, *fields: str) -> Any:
    if obj is None:
        return None
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (labels, *(obj.get(f) for f in fields))


class EndpointsController(Controller):
    """What kube-controller-manager's endpoints and endpointslice controllers do, keyed by Service."""

    name = "endpoints"

    def __init__(
        self,
        client: KubeClient,
        services: Informer,
        pods: Informer,
        endpoints: Informer,
        slices: Informer,
    ) -> None:
        super().__init__()
        self.client = client
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.slices = slices
        services.add_handler(lambda _, obj: self.enqueue(object_key(obj)))
        endpoints.add_handler(lambda _, obj: self.enqueue(object_key(obj)))
        slices.add_handler(self._on_slice)
        pods.add_handler(self._on_pod)
        slices.add_index("service", lambda obj: [key] if (key := _slice_service(obj)) else [])

    def _on_slice(self, _: str, obj: Obj) -> None:
        key = _slice_service(obj)
        if key is not None:
            self.enqueue(key)

    def _on_pod(self, _: str, pod: Obj) -> None:
        # A label change can take a pod out of a Service, so every Service of the namespace is re-checked.
        namespace = _namespace(pod)
        for key, service in list(self.services.objects.items()):
            if _namespace(service) == namespace and selector_of(service) is not None:
                self.enqueue(key)

    async def reconcile(self, key: str) -> None:
        namespace = key.partition("/")[0]
        service = self.services.get(key)
        if service is None or selector_of(service) is None:
            owned = self.endpoints.get(key)
            labels = ((owned or {}).get("metadata") or {}).get("labels") or {}
            if service is None and owned is not None and labels.get(SKIP_MIRROR_LABEL) == "true":
                await self._delete(ENDPOINTS, self.endpoints, owned)
            if service is None:
                for stale in self.slices.by_index("service", key):
                    await self._delete(ENDPOINT_SLICES, self.slices, stale)
            return
        pods = [p for p in self.pods.objects.values() if _namespace(p) == namespace]
        selected = pod_endpoints(service, pods)
        await self._write(ENDPOINTS, self.endpoints, endpoints_body(service, selected), ("subsets",))
        wanted = endpoint_slice_bodies(service, selected)
        for body in wanted:
            await self._write(ENDPOINT_SLICES, self.slices, body, ("endpoints", "ports", "addressType"))
        names = {body["metadata"]["name"] for body in wanted}
        for stale in self.slices.by_index("service", key):
            if stale["metadata"]["name"] not in names:
                await self._delete(ENDPOINT_SLICES, self.slices, stale)

    async def _write(self, resource: Resource, cache: Informer, body: Obj, fields: tuple[str, ...]) -> None:
        namespace = body["metadata"]["namespace"]
        current = cache.get(f"{namespace}/{body['metadata']['name']}")
        if current is not None and _content(current, *fields) == _content(body, *fields):
            return
        if current is None:
            try:
                cache.observe(await self.client.create(resource, namespace, body))
                return
            except Exception as error:
                if not is_status(error, 409):
                    raise
                current = await self.client.get(resource, namespace, body["metadata"]["name"])
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        cache.observe(await self.client.replace(resource, namespace, body))

    async def _delete(self, resource: Resource, cache: Informer, obj: Obj) -> None:
        meta = obj["metadata"]
        try:
            await self.client.delete(resource, meta.get("namespace"), meta["name"], uid=meta.get("uid"))
        except Exception as error:
            if not is_status(error, 404, 409):
                raise
        cache.forget(obj)
