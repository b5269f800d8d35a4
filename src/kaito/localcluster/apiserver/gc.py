"""Garbage collection of ownerReferences: background, foreground and orphan propagation, dangling owners."""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Any, cast

from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.objects import ObjectService
from kaito.localcluster.apiserver.storage import Obj, ObjKey, StoreKey, WatchEvent
from kaito.localcluster.apiserver.workqueue import WorkQueue

_GC_FINALIZERS = ("foregroundDeletion", "orphan")


class GarbageCollector:
    """Deletes dependents whose owners are gone and completes foreground/orphan deletions."""

    def __init__(self, service: ObjectService) -> None:
        self.service = service
        self.storage = service.storage
        self.queue = WorkQueue("garbage-collector", self._process)

    def on_event(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        okey: ObjKey = (meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            for dependent in self.storage.dependents_of(meta["uid"]):
                self.queue.add(("dependent", dependent))
            for ref in meta.get("ownerReferences") or ():
                self.queue.add(("owner", ref["uid"]))
            return
        refs = meta.get("ownerReferences")
        prev_refs = (event.prev or {}).get("metadata", {}).get("ownerReferences")
        if refs and (event.type == "ADDED" or refs != prev_refs):
            self.queue.add(("dependent", (event.store_key, okey)))
        if meta.get("deletionTimestamp") and any(f in _GC_FINALIZERS for f in meta.get("finalizers") or ()):
            self.queue.add(("owner", meta["uid"]))

    async def _process(self, item: Hashable) -> bool:
        kind, target = cast(tuple[str, Any], item)
        if kind == "dependent":
            return await self._dependent(*target)
        return await self._owner(target)

    def _rtype(self, store_key: StoreKey, obj: Obj) -> Any:
        return self.service.registry.any_version(*store_key)

    async def _dependent(self, store_key: StoreKey, okey: ObjKey) -> bool:
        obj = self.storage.get(store_key, *okey)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return False
        refs = obj["metadata"].get("ownerReferences") or []
        live, dangling, foreground = [], [], False
        for ref in refs:
            owner = self.storage.by_uid(ref["uid"])
            if owner is None:
                dangling.append(ref)
                continue
            live.append(ref)
            owner_meta = owner["metadata"]
            if owner_meta.get("deletionTimestamp") and "foregroundDeletion" in (
                owner_meta.get("finalizers") or ()
            ):
                foreground = True
        rtype = self._rtype(store_key, obj)
        if rtype is None:
            return False
        if not live or (foreground and all(self._owner_deleting(r) for r in live)):
            policy = "Foreground" if foreground else "Background"
            try:
                await self.service.delete(
                    rtype,
                    okey[0],
                    okey[1],
                    {"propagationPolicy": policy, "preconditions": {"uid": obj["metadata"]["uid"]}},
                )
            except ApiError as err:
                return err.code not in (404, 409)
            return False
        if dangling:
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = live
            return await self.service.update_checked(rtype, obj, new) is None
        return False

    def _owner_deleting(self, ref: dict[str, Any]) -> bool:
        owner = self.storage.by_uid(ref["uid"])
        return owner is not None and bool(owner["metadata"].get("deletionTimestamp"))

    async def _owner(self, uid: str) -> bool:
        where = self.storage.location_of_uid(uid)
        if where is None:
            return False
        store_key, okey = where
        owner = self.storage.get(store_key, *okey)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return False
        finalizers = list(owner["metadata"].get("finalizers") or ())
        dependents = self.storage.dependents_of(uid)
        if "orphan" in finalizers:
            for dep_key, dep_okey in dependents:
                dep = self.storage.get(dep_key, *dep_okey)
                dep_rtype = self.service.registry.any_version(*dep_key)
                if dep is None or dep_rtype is None:
                    continue
                new = copy.deepcopy(dep)
                new["metadata"]["ownerReferences"] = [
                    r for r in dep["metadata"].get("ownerReferences") or () if r["uid"] != uid
                ]
                if await self.service.update_checked(dep_rtype, dep, new) is None:
                    return True
            finalizers.remove("orphan")
        elif "foregroundDeletion" in finalizers:
            blocking = False
            for dep_key, dep_okey in dependents:
                dep = self.storage.get(dep_key, *dep_okey)
                if dep is None:
                    continue
                if not dep["metadata"].get("deletionTimestamp"):
                    self.queue.add(("dependent", (dep_key, dep_okey)))
                refs = [r for r in dep["metadata"].get("ownerReferences") or () if r["uid"] == uid]
                if any(r.get("blockOwnerDeletion") for r in refs):
                    blocking = True
            if blocking:
                return False
            finalizers.remove("foregroundDeletion")
        else:
            return False
        rtype = self.service.registry.any_version(*store_key)
        if rtype is None:
            return False
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = finalizers
        return await self.service.update_checked(rtype, owner, new) is None
