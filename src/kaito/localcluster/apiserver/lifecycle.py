"""Namespace termination and CRD serving/cleanup — in-process stand-ins for kube-controller-manager loops."""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Any, cast

from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.objects import CRD_CLEANUP_FINALIZER, ObjectService, WriteOptions
from kaito.localcluster.apiserver.storage import WatchEvent
from kaito.localcluster.apiserver.workqueue import WorkQueue

NAMESPACES = ("", "namespaces")
SERVICEACCOUNTS = ("", "serviceaccounts")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


class LifecycleController:
    """Empties terminating namespaces, serves CRDs as they change, deletes a deleted CRD's objects."""

    def __init__(self, service: ObjectService) -> None:
        self.service = service
        self.storage = service.storage
        self.registry = service.registry
        self.queue = WorkQueue("lifecycle", self._process)

    def on_event(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if event.store_key == CRDS:
            if event.type == "DELETED":
                self.registry.remove_crd(meta["name"])
            else:
                self.registry.set_crd(event.obj)
                if meta.get("deletionTimestamp"):
                    self.queue.add(("crd", meta["name"]))
            return
        if event.store_key == NAMESPACES:
            if event.type != "DELETED" and meta.get("deletionTimestamp"):
                self.queue.add(("namespace", meta["name"]))
            elif event.type == "ADDED":
                self.queue.add(("serviceaccount", meta["name"]))
            return
        if event.store_key == SERVICEACCOUNTS and event.type == "DELETED" and meta["name"] == "default":
            self.queue.add(("serviceaccount", meta.get("namespace", "")))
        namespace = meta.get("namespace")
        if event.type == "DELETED" and namespace:
            ns = self.storage.get(NAMESPACES, "", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.queue.add(("namespace", namespace))
        if event.type == "DELETED":
            crd_name = f"{event.store_key[1]}.{event.store_key[0]}"
            crd = self.storage.get(CRDS, "", crd_name)
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                self.queue.add(("crd", crd_name))

    async def _process(self, item: Hashable) -> bool:
        kind, name = cast(tuple[str, Any], item)
        if kind == "namespace":
            return await self._namespace(name)
        if kind == "serviceaccount":
            return await self._default_service_account(name)
        return await self._crd(name)

    async def _default_service_account(self, namespace: str) -> bool:
        """Every live namespace has a ``default`` ServiceAccount, as the serviceaccount controller ensures."""
        ns = self.storage.get(NAMESPACES, "", namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return False
        if self.storage.get(SERVICEACCOUNTS, namespace, "default") is not None:
            return False
        rtype = self.registry.any_version(*SERVICEACCOUNTS)
        assert rtype is not None
        try:
            await self.service.create(rtype, namespace, {"metadata": {"name": "default"}}, WriteOptions())
        except ApiError as err:
            return err.code not in (403, 404, 409)
        return False

    async def _namespace(self, name: str) -> bool:
        ns = self.storage.get(NAMESPACES, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return False
        remaining = 0
        for store_key in self.storage.store_keys():
            rtype = self.registry.any_version(*store_key)
            if rtype is None or not rtype.namespaced:
                continue
            for obj in self.storage.items(store_key, name):
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    await self.service.delete(
                        rtype, name, obj["metadata"]["name"], {"propagationPolicy": "Background"}
                    )
                except ApiError as err:
                    if err.code not in (404, 409):
                        raise
        if remaining:
            still = sum(
                len(self.storage.items(k, name))
                for k in self.storage.store_keys()
                if (rt := self.registry.any_version(*k)) is not None and rt.namespaced
            )
            if still:
                return False  # DELETED events of the remaining objects re-queue this namespace
        ns = self.storage.get(NAMESPACES, "", name)
        if ns is None:
            return False
        rtype = self.registry.any_version(*NAMESPACES)
        assert rtype is not None
        new = copy.deepcopy(ns)
        new["spec"] = dict(new.get("spec") or {}, finalizers=[])
        return await self.service.update_checked(rtype, ns, new, subresource="*") is None

    async def _crd(self, name: str) -> bool:
        crd = self.storage.get(CRDS, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return False
        store_key = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        rtype = self.registry.any_version(*store_key)
        objects = self.storage.items(store_key)
        if rtype is not None and objects:
            for obj in objects:
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                meta = obj["metadata"]
                try:
                    await self.service.delete(rtype, meta.get("namespace", ""), meta["name"])
                except ApiError as err:
                    if err.code not in (404, 409):
                        raise
            if self.storage.items(store_key):
                return False
        finalizers = [f for f in crd["metadata"].get("finalizers") or () if f != CRD_CLEANUP_FINALIZER]
        crd_rtype = self.registry.any_version(*CRDS)
        assert crd_rtype is not None
        new = copy.deepcopy(crd)
        new["metadata"]["finalizers"] = finalizers
        return await self.service.update_checked(crd_rtype, crd, new, subresource="*") is None
