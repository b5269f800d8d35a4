"""HTTP verbs on resources: thin translation between aiohttp requests and ObjectService / listing / watch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kaito.localcluster.apiserver import eventconv, listing, subresources
from kaito.localcluster.apiserver.errors import ApiError, bad_request
from kaito.localcluster.apiserver.objects import ObjectService, WriteOptions
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.requests import (
    ResourcePath,
    dry_run,
    field_validation,
    json_response,
    query_bool,
    query_int,
    read_json,
    table_version,
    wants,
)
from kaito.localcluster.apiserver.selectors import (
    FieldRequirement,
    parse_field_selector,
    parse_label_selector,
)
from kaito.localcluster.apiserver.storage import Obj
from kaito.localcluster.apiserver.tables import to_table
from kaito.localcluster.apiserver.watchstream import WatchSettings, serve_watch

# (namespace, pod, query) -> log text; BUILTINS' pod runner may provide one.
LogProvider = Callable[[str, str, dict[str, str]], Awaitable[str]]


def verb_of(request: web.Request, path: ResourcePath) -> str:
    method = request.method
    if method == "GET":
        if path.name is None:
            return "watch" if path.legacy_watch or query_bool(request, "watch") else "list"
        return "watch" if path.legacy_watch else "get"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "deletecollection" if path.name is None else "delete"
    return method.lower()


class ResourceHandlers:
    """Serves the verbs of every registered resource."""

    def __init__(self, service: ObjectService, watch_settings: WatchSettings) -> None:
        self.service = service
        self.storage = service.storage
        self.watch_settings = watch_settings
        self.log_provider: LogProvider | None = None

    # ---- helpers -----------------------------------------------------------------------------------------
    def _write_options(self, request: web.Request) -> WriteOptions:
        explicit = request.query.get("fieldManager", "")
        opts = WriteOptions(
            dry_run=dry_run(request),
            field_validation=field_validation(request),
            field_manager=explicit or request.headers.get("User-Agent", "unknown").split("/", 1)[0][:128],
            force=query_bool(request, "force"),
        )
        opts.explicit_manager = bool(explicit)
        return opts

    def _render_one(self, request: web.Request, rtype: ResourceType, obj: Obj) -> Any:
        obj = self.service.as_version(rtype, obj)
        if wants(request, "Table"):
            include = request.query.get("includeObject", "Metadata")
            return to_table(rtype, [obj], obj["metadata"]["resourceVersion"], include, table_version(request))
        if wants(request, "PartialObjectMetadata"):
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        return obj

    def _list_item(self, rtype: ResourceType) -> Callable[[Obj], Obj]:
        if rtype.is_custom:
            return lambda o: self.service.as_version(rtype, o)
        if rtype.shares_storage_of is not None:
            return lambda o: {
                k: v for k, v in self.service.as_version(rtype, o).items() if k not in ("kind", "apiVersion")
            }
        return lambda o: {k: v for k, v in o.items() if k != "kind" and k != "apiVersion"}

    # ---- dispatch ----------------------------------------------------------------------------------------
    async def handle(
        self, request: web.Request, rtype: ResourceType, path: ResourcePath
    ) -> web.StreamResponse:
        if rtype.namespaced and path.namespace is None and path.name is not None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if not rtype.namespaced and path.namespace is not None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if path.subresource:
            return await subresources.handle(self, request, rtype, path)
        if verb_of(request, path) not in rtype.verbs:
            raise ApiError(
                405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
            )
        if rtype.review:
            return json_response(_review(rtype, await read_json(request)), 201)
        if path.name is None or path.legacy_watch:
            return await self._collection(request, rtype, path)
        return await self._object(request, rtype, path, path.name)

    async def _collection(
        self, request: web.Request, rtype: ResourceType, path: ResourcePath
    ) -> web.StreamResponse:
        method = request.method
        if method == "GET":
            return await self._list(request, rtype, path)
        if method == "POST":
            if path.legacy_watch:
                raise ApiError(
                    405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
                )
            opts = self._write_options(request)
            created = await self.service.create(rtype, path.namespace, await read_json(request), opts)
            return json_response(self._render_one(request, rtype, created), 201, opts.warnings)
        if method == "DELETE":
            return await self._delete_collection(request, rtype, path)
        raise ApiError(
            405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
        )

    def _list_query(self, request: web.Request, rtype: ResourceType, path: ResourcePath) -> listing.ListQuery:
        fields = parse_field_selector(
            request.query.get("fieldSelector", ""), rtype.field_labels, rtype.is_custom
        )
        if path.legacy_watch and path.name:
            fields = (*fields, FieldRequirement("metadata.name", "=", path.name))
        if rtype.shares_storage_of is not None:
            fields = tuple(FieldRequirement(eventconv.core_field_path(f.path), f.op, f.value) for f in fields)
        return listing.ListQuery(
            namespace=path.namespace if rtype.namespaced else None,
            labels=parse_label_selector(request.query.get("labelSelector", "")),
            fields=fields,
            limit=query_int(request, "limit"),
            continue_token=request.query.get("continue", ""),
            resource_version=request.query.get("resourceVersion", ""),
            match=request.query.get("resourceVersionMatch", ""),
        )

    async def _list(
        self, request: web.Request, rtype: ResourceType, path: ResourcePath
    ) -> web.StreamResponse:
        query = self._list_query(request, rtype, path)
        if path.legacy_watch or query_bool(request, "watch"):
            render = None
            if wants(request, "Table"):
                version = table_version(request)
                include = request.query.get("includeObject", "Metadata")

                def render_table(_: str, obj: Obj) -> Any:
                    return to_table(
                        rtype, [obj], obj["metadata"]["resourceVersion"], include, version, no_headers=True
                    )

                render = render_table
            return await serve_watch(
                request,
                self.storage,
                self.watch_settings,
                rtype,
                query.namespace,
                query.labels,
                query.fields,
                lambda o: self.service.as_version(rtype, o),
                render,
            )
        result = listing.run_list(self.storage, rtype, query)
        if wants(request, "Table"):
            converted = [self.service.as_version(rtype, o) for o in result.items]
            list_meta: dict[str, Any] = {"continue": result.continue_token} if result.continue_token else {}
            if result.remaining is not None:
                list_meta["remainingItemCount"] = result.remaining
            body = to_table(
                rtype,
                converted,
                result.resource_version,
                request.query.get("includeObject", "Metadata"),
                table_version(request),
                list_meta,
            )
            return json_response(body)
        if wants(request, "PartialObjectMetadataList"):
            items: list[Any] = [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
                for o in result.items
            ]
            body = listing.list_body(rtype, result, items)
            body.update(kind="PartialObjectMetadataList", apiVersion="meta.k8s.io/v1")
            return json_response(body)
        convert = self._list_item(rtype)
        return json_response(listing.list_body(rtype, result, [convert(o) for o in result.items]))

    async def _delete_collection(
        self, request: web.Request, rtype: ResourceType, path: ResourcePath
    ) -> web.StreamResponse:
        query = self._list_query(request, rtype, path)
        query.limit = None
        query.continue_token = ""
        options = await _delete_options(request)
        deleted = []
        for obj in listing.current_items(self.storage, rtype, query):
            meta = obj["metadata"]
            try:
                deleted.append(
                    await self.service.delete(
                        rtype, meta.get("namespace", ""), meta["name"], options, dry_run(request)
                    )
                )
            except ApiError as err:
                if err.code != 404:
                    raise
        convert = self._list_item(rtype)
        result = listing.ListResult(deleted, str(self.storage.rv))
        return json_response(listing.list_body(rtype, result, [convert(o) for o in deleted]))

    async def _object(
        self, request: web.Request, rtype: ResourceType, path: ResourcePath, name: str
    ) -> web.StreamResponse:
        namespace = path.namespace or ""
        method = request.method
        if method == "GET":
            return json_response(self._render_one(request, rtype, self.service.get(rtype, namespace, name)))
        if method == "PUT":
            opts = self._write_options(request)
            updated = await self.service.update(rtype, namespace, name, await read_json(request), opts)
            return json_response(self._render_one(request, rtype, updated), 200, opts.warnings)
        if method == "PATCH":
            opts = self._write_options(request)
            patched, created = await self.service.patch(
                rtype, namespace, name, request.content_type, await request.read(), opts
            )
            return json_response(
                self._render_one(request, rtype, patched), 201 if created else 200, opts.warnings
            )
        if method == "DELETE":
            options = await _delete_options(request)
            deleted = await self.service.delete(rtype, namespace, name, options, dry_run(request))
            return json_response(self._render_one(request, rtype, deleted))
        raise ApiError(
            405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
        )


async def _delete_options(request: web.Request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    raw = await request.read()
    if raw.strip():
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("DeleteOptions must be an object")
        options.update(body)
    if request.query.get("propagationPolicy"):
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if request.query.get("orphanDependents"):
        options["orphanDependents"] = query_bool(request, "orphanDependents")
    if request.query.get("gracePeriodSeconds"):
        options["gracePeriodSeconds"] = query_int(request, "gracePeriodSeconds")
    return options


def _review(rtype: ResourceType, body: Any) -> dict[str, Any]:
    """RBAC is not enforced here: every access review is allowed; the user is the kubeconfig's admin."""
    review = dict(body) if isinstance(body, dict) else {}
    review.update(apiVersion=rtype.api_version, kind=rtype.kind)
    review.setdefault("metadata", {})["creationTimestamp"] = None
    if rtype.resource == "selfsubjectreviews":
        review["status"] = {
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}
        }
    else:
        review["status"] = {"allowed": True, "reason": "RBAC is not enforced by the local cluster"}
    return review
