"""Create, update, patch and delete with kube-apiserver semantics, shared by HTTP handlers and controllers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kaito.localcluster.apiserver import customres, defaults, eventconv
from kaito.localcluster.apiserver.builtin_validation import validate_builtin
from kaito.localcluster.apiserver.deletion import blocks_removal, deletion_state, strict_decode
from kaito.localcluster.apiserver.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    not_found,
    qualified,
)
from kaito.localcluster.apiserver.meta import (
    carry_immutable_meta,
    check_precondition_rv,
    now_rfc3339,
    prepare_create_meta,
    require_object,
    spec_changed,
    tracks_generation,
)
from kaito.localcluster.apiserver.patching import apply_patch
from kaito.localcluster.apiserver.registry import Registry, ResourceType
from kaito.localcluster.apiserver.storage import Obj, Storage
from kaito.localcluster.schema import record_update

# (operation, rtype, subresource, obj, old, dry_run) -> possibly mutated obj; raises ApiError to deny.
AdmissionHook = Callable[[str, ResourceType, str, Obj | None, Obj | None, bool], Awaitable[Obj | None]]

_CRD = ("apiextensions.k8s.io", "customresourcedefinitions")
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_NAMESPACES = ("", "namespaces")
_SERVICES = ("", "services")
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
_MAX_RETRIES = 8


class WriteOptions:
    """Query options that change how a write is performed."""

    def __init__(
        self,
        dry_run: bool = False,
        field_validation: str = "Strict",
        field_manager: str = "",
        force: bool = False,
    ) -> None:
        self.dry_run = dry_run
        self.field_validation = field_validation
        self.field_manager = field_manager
        self.explicit_manager = bool(field_manager)
        self.force = force
        self.applying = False  # set for apply patches: managedFields were already updated by the apply
        self.warnings: list[str] = []


class ObjectService:
    """The write paths of the API server; every mutation of stored objects goes through here."""

    def __init__(self, storage: Storage, registry: Registry, service_cidr: str) -> None:
        self.storage = storage
        self.registry = registry
        self.allocator = defaults.ClusterIPAllocator(service_cidr)
        self.admission: AdmissionHook | None = None

    # ---- versions ----------------------------------------------------------------------------------------
    def as_version(self, rtype: ResourceType, obj: Obj) -> Obj:
        """The stored object as the requested version (CRDs use conversion None: only apiVersion changes)."""
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        if rtype.shares_storage_of is not None:
            return eventconv.from_core(obj)
        return dict(obj, apiVersion=rtype.api_version)

    def _to_storage(self, rtype: ResourceType, obj: Obj) -> Obj:
        if rtype.shares_storage_of is not None:
            core = eventconv.to_core(obj)
            obj.clear()
            obj.update(core)
            return obj
        obj["kind"] = rtype.kind
        version = rtype.storage_version or rtype.version
        obj["apiVersion"] = f"{rtype.group}/{version}" if rtype.group else version
        return obj

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.storage.get(rtype.store_key, namespace if rtype.namespaced else "", name)
        if obj is None:
            raise not_found(rtype.resource, rtype.group, name)
        return obj

    def _check_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        if not rtype.namespaced:
            return
        ns = self.storage.get(_NAMESPACES, "", namespace)
        if ns is None:
            raise ApiError(
                404, f'namespaces "{namespace}" not found', "NotFound", name=namespace, kind="namespaces"
            )
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{qualified(rtype.resource, rtype.group)} "{name}" is forbidden: unable to create '
                f"new content in namespace {namespace} because it is being terminated",
                "Forbidden",
                name=name,
                group=rtype.group,
                kind=rtype.resource,
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )

    # ---- create ------------------------------------------------------------------------------------------
    async def create(self, rtype: ResourceType, namespace: str | None, body: Any, opts: WriteOptions) -> Obj:
        obj = prepare_create_meta(rtype, require_object(body), namespace)
        name = obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace", "")
        self._check_kind(rtype, obj)
        if rtype.status_subresource and rtype.is_custom:
            obj.pop("status", None)
        if rtype.is_custom:
            obj = customres.admit_custom(rtype, obj, None, opts.field_validation, opts.warnings)
        else:
            strict_decode(rtype, obj, opts.field_validation)
            defaults.apply_builtin_defaults(rtype, obj, creating=True)
            validate_builtin(rtype, obj, None)
        if rtype.store_key == _CRD:
            customres.validate_crd(obj)
            obj["status"] = customres.crd_status(obj, now_rfc3339())
            finalizers = obj["metadata"].setdefault("finalizers", [])
            if CRD_CLEANUP_FINALIZER not in finalizers:
                finalizers.append(CRD_CLEANUP_FINALIZER)
        if rtype.is_custom and rtype.crd is not None and rtype.crd["metadata"].get("deletionTimestamp"):
            raise ApiError(
                405, "create not allowed while custom resource definition is terminating", "MethodNotAllowed"
            )
        if self.admission is not None:
            admitted = await self.admission("CREATE", rtype, "", obj, None, opts.dry_run) or obj
            if rtype.is_custom and admitted != obj:  # a mutating webhook changed it: validate the result
                admitted = customres.admit_custom(rtype, admitted, None, "Ignore", opts.warnings)
            obj = admitted
        self._check_namespace(rtype, ns, name)
        if self.storage.get(rtype.store_key, ns, name) is not None:
            raise already_exists(rtype.resource, rtype.group, name)
        if rtype.store_key == _SERVICES:
            defaults.service_on_create(obj, self.allocator, self.storage.cluster_ips())
        self._to_storage(rtype, obj)
        if opts.field_manager and not opts.applying:
            obj = record_update(None, obj, opts.field_manager, rtype.kind, schema=rtype.schema)
        if opts.dry_run:
            return self.as_version(rtype, obj)
        self.storage.put(rtype.store_key, obj, "ADDED")
        return self.as_version(rtype, obj)

    def _check_kind(self, rtype: ResourceType, obj: Obj) -> None:
        kind = obj.get("kind")
        if kind and kind != rtype.kind:
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API "
                f"version ({rtype.api_version})"
                if obj.get("apiVersion") not in (None, rtype.api_version)
                else f"Object kind {kind!r} does not match the resource {rtype.kind!r}"
            )

    # ---- update ------------------------------------------------------------------------------------------
    async def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> Obj:
        """PUT: replace the object (or its status); 409 on a stale resourceVersion."""
        new = require_object(body)
        ns = namespace if rtype.namespaced else ""
        old = self.storage.get(rtype.store_key, ns, name)
        if old is None:
            raise not_found(rtype.resource, rtype.group, name)
        check_precondition_rv(rtype, old, new, name)
        self._check_kind(rtype, new)
        return await self._commit_update(rtype, old, new, opts, subresource)

    async def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        opts: WriteOptions,
        subresource: str = "",
    ) -> tuple[Obj, bool]:
        """PATCH with any of the four patch types; returns (object, created) — only apply may create."""
        ns = namespace if rtype.namespaced else ""
        for _ in range(_MAX_RETRIES):
            old = self.storage.get(rtype.store_key, ns, name)
            if old is None and not content_type.startswith("application/apply-patch"):
                raise not_found(rtype.resource, rtype.group, name)
            current = self.as_version(rtype, old) if old is not None else None
            opts.applying = content_type.startswith("application/apply-patch")
            new = apply_patch(rtype, current, content_type, raw, opts, name, ns)
            if old is None:
                return await self.create(rtype, namespace, new, opts), True
            check_precondition_rv(rtype, old, new, name)
            try:
                return await self._commit_update(rtype, old, new, opts, subresource), False
            except _Retry:
                continue
        raise conflict(rtype.resource, rtype.group, name)

    async def _commit_update(
        self, rtype: ResourceType, old: Obj, new: Obj, opts: WriteOptions, subresource: str
    ) -> Obj:
        name = old["metadata"]["name"]
        ns = old["metadata"].get("namespace", "")
        if subresource == "status":
            status = new.get("status")
            new = {k: v for k, v in old.items() if k != "status"}
            new["metadata"] = dict(old["metadata"])
            if status is not None:
                new["status"] = status
        else:
            carry_immutable_meta(rtype, old, new, name)
            if rtype.status_subresource and subresource != "*":
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
        if rtype.is_custom:
            metadata = new["metadata"]
            new = customres.admit_custom(
                rtype, new, self.as_version(rtype, old), opts.field_validation, opts.warnings
            )
            new["metadata"] = metadata
        else:
            if subresource == "":
                strict_decode(rtype, new, opts.field_validation)
            defaults.apply_builtin_defaults(rtype, new, creating=False)
            validate_builtin(rtype, new, old)
        if rtype.store_key == _SERVICES:
            defaults.service_on_update(old, new)
        if rtype.store_key == _CRD and subresource != "status":
            customres.validate_crd(new)
            new["status"] = customres.crd_status(new, now_rfc3339())
        if rtype.store_key == _NAMESPACES and old["metadata"].get("deletionTimestamp"):
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
        if self.admission is not None:
            sub = "" if subresource == "*" else subresource
            admitted = await self.admission("UPDATE", rtype, sub, new, old, opts.dry_run) or new
            if rtype.is_custom and admitted != new:
                metadata = admitted["metadata"]
                admitted = customres.admit_custom(rtype, admitted, self.as_version(rtype, old), "Ignore", [])
                admitted["metadata"] = metadata
            new = admitted
        if self.storage.get(rtype.store_key, ns, name) is not old:
            raise _Retry()
        self._to_storage(rtype, new)
        if opts.field_manager and not opts.applying:
            new = record_update(old, new, opts.field_manager, rtype.kind, schema=rtype.schema)
        meta = new["metadata"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if tracks_generation(rtype) and spec_changed(old, new, rtype.status_subresource):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return self.as_version(rtype, old)
        if opts.dry_run:
            return self.as_version(rtype, new)
        if meta.get("deletionTimestamp") and not blocks_removal(rtype, new):
            event = self.storage.remove(rtype.store_key, ns, name)
            return self.as_version(rtype, event.obj if event else new)
        self.storage.put(rtype.store_key, new, "MODIFIED")
        return self.as_version(rtype, new)

    async def update_checked(
        self, rtype: ResourceType, old: Obj, new: Obj, subresource: str = ""
    ) -> Obj | None:
        """In-process update of ``old`` (as stored) by a controller; None when it changed underneath.

        ``subresource="*"`` writes spec and status together (for server-internal writes such as binding).
        """
        try:
            return await self._commit_update(
                rtype, old, new, WriteOptions(field_validation="Ignore"), subresource
            )
        except _Retry:
            return None

    # ---- delete ------------------------------------------------------------------------------------------
    async def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE: finalizers defer removal (deletionTimestamp set); propagationPolicy adds GC finalizers."""
        options = options or {}
        ns = namespace if rtype.namespaced else ""
        for _ in range(_MAX_RETRIES):
            old = self.storage.get(rtype.store_key, ns, name)
            if old is None:
                raise not_found(rtype.resource, rtype.group, name)
            preconditions = options.get("preconditions") or {}
            if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
                raise conflict(
                    rtype.resource,
                    rtype.group,
                    name,
                    f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object "
                    f"meta: {old['metadata']['uid']}",
                )
            wanted_rv = preconditions.get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    rtype.resource,
                    rtype.group,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {wanted_rv}, ResourceVersion "
                    f"in object meta: {old['metadata']['resourceVersion']}",
                )
            if rtype.store_key == _NAMESPACES and name in _UNDELETABLE_NAMESPACES:
                raise ApiError(
                    403,
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    "Forbidden",
                    name=name,
                    kind="namespaces",
                )
            if self.admission is not None:
                await self.admission("DELETE", rtype, "", None, old, dry_run)
            if self.storage.get(rtype.store_key, ns, name) is not old:
                continue
            new = deletion_state(self.storage, rtype, old, options)
            if dry_run:
                return self.as_version(rtype, new)
            if blocks_removal(rtype, new):
                if new != old:
                    self.storage.put(rtype.store_key, new, "MODIFIED")
                return self.as_version(rtype, new)
            event = self.storage.remove(rtype.store_key, ns, name, last=new)
            return self.as_version(rtype, event.obj if event else old)
        raise conflict(rtype.resource, rtype.group, name)


class _Retry(Exception):
    """The object changed while an update was being admitted; recompute from the new version."""
