"""OpenAPI v3 documents per group-version, enough for kubectl's server-side field validation and explain.

Strategic merge patch is deliberately not advertised here, so kubectl computes it from its compiled-in types
rather than from schemas we do not publish for built-in kinds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kaito.localcluster.apiserver.registry import Registry, ResourceType

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
_QUERY = {"in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _param(name: str, where: str = "query", kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": kind, "uniqueItems": True},
    }


def _reverse_domain(group: str) -> str:
    if not group:
        return "io.k8s.api.core"
    return ".".join(reversed(group.split(".")))


def schema_name(rtype: ResourceType) -> str:
    return f"{_reverse_domain(rtype.group)}.{rtype.version}.{rtype.kind}"


def _gvk(rtype: ResourceType, kind: str | None = None) -> dict[str, str]:
    return {"group": rtype.group, "version": rtype.version, "kind": kind or rtype.kind}


def _ref(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _operation(rtype: ResourceType, action: str, name: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{rtype.kind}",
        "parameters": params,
        "responses": {"200": dict(_ref(name), description="OK"), "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rtype),
    }
    return op


def _paths_for(rtype: ResourceType) -> dict[str, Any]:
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else "/api/v1"
    scope = (
        f"{prefix}/namespaces/{{namespace}}/{rtype.resource}"
        if rtype.namespaced
        else f"{prefix}/{rtype.resource}"
    )
    name = schema_name(rtype)
    write = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    common = [_param("pretty")] + ([_param("namespace", "path")] if rtype.namespaced else [])
    item_common = [_param("name", "path"), *common]
    list_params = [
        _param(p)
        for p in (
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "resourceVersionMatch",
            "timeoutSeconds",
            "watch",
            "allowWatchBookmarks",
            "sendInitialEvents",
        )
    ]
    patch = _operation(rtype, "patch", name, [*write, _param("force", kind="boolean")])
    patch["requestBody"] = {
        "content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES},
        "required": True,
    }
    create = _operation(rtype, "post", name, write)
    create["requestBody"] = dict(_ref(name), required=True)
    replace = _operation(rtype, "put", name, write)
    replace["requestBody"] = dict(_ref(name), required=True)
    paths: dict[str, Any] = {
        scope: {
            "get": _operation(rtype, "list", name, list_params),
            "post": create,
            "delete": _operation(rtype, "deletecollection", name, [*list_params, _param("dryRun")]),
            "parameters": common,
        },
        f"{scope}/{{name}}": {
            "get": _operation(rtype, "get", name, []),
            "put": replace,
            "patch": patch,
            "delete": _operation(rtype, "delete", name, [_param("dryRun"), _param("propagationPolicy")]),
            "parameters": item_common,
        },
    }
    if rtype.status_subresource:
        paths[f"{scope}/{{name}}/status"] = {
            "get": _operation(rtype, "get", name, []),
            "put": replace,
            "patch": patch,
            "parameters": item_common,
        }
    return paths


def _component(rtype: ResourceType) -> dict[str, Any]:
    if rtype.schema:
        schema: dict[str, Any] = json.loads(json.dumps(rtype.schema))
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string", "description": "APIVersion of the object."})
        props.setdefault("kind", {"type": "string", "description": "Kind of the object."})
        props["metadata"] = {"type": "object", "description": "Standard object's metadata."}
    else:
        schema = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": f"{rtype.kind} ({rtype.api_version})",
        }
    schema["x-kubernetes-group-version-kind"] = [_gvk(rtype)]
    return schema


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rtype in types:
        paths.update(_paths_for(rtype))
        schemas[schema_name(rtype)] = _component(rtype)
        schemas[f"{schema_name(rtype)}List"] = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_name(rtype)}"}}
            },
            "x-kubernetes-group-version-kind": [_gvk(rtype, rtype.list_kind)],
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _doc_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


class OpenAPICache:
    """Builds documents once per registry generation (CRD changes invalidate them)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._generation = -1
        self._docs: dict[str, dict[str, Any]] = {}

    def _refresh(self) -> None:
        if self._generation == self.registry.generation:
            return
        docs: dict[str, dict[str, Any]] = {}
        for group, versions in self.registry.ordered_groups():
            for version in versions:
                doc = group_version_document(self.registry, group, version)
                if doc is not None:
                    docs[f"apis/{group}/{version}" if group else "api/v1"] = doc
        self._docs = docs
        self._generation = self.registry.generation

    def root(self) -> dict[str, Any]:
        self._refresh()
        return {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={_doc_hash(doc)}"}
                for path, doc in self._docs.items()
            }
        }

    def document(self, path: str) -> dict[str, Any] | None:
        self._refresh()
        return self._docs.get(path.strip("/"))
