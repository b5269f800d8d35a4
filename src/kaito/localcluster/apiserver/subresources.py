"""Subresources: status, scale (built-in and CRD), pods/log|binding|eviction, namespaces/finalize."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kaito.localcluster.apiserver.errors import ApiError, bad_request, conflict, field_cause, invalid
from kaito.localcluster.apiserver.logfollow import follow_log
from kaito.localcluster.apiserver.meta import now_rfc3339
from kaito.localcluster.apiserver.objects import WriteOptions
from kaito.localcluster.apiserver.patching import apply_patch
from kaito.localcluster.apiserver.registry import ResourceType, ScalePaths
from kaito.localcluster.apiserver.requests import ResourcePath, json_response, query_bool, read_json

if TYPE_CHECKING:
    from kaito.localcluster.apiserver.handlers import ResourceHandlers

_METHOD_NOT_ALLOWED = ApiError(
    405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
)


def _not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound")


async def handle(
    handlers: ResourceHandlers, request: web.Request, rtype: ResourceType, path: ResourcePath
) -> web.StreamResponse:
    sub = path.subresource
    assert path.name is not None
    if sub == "status" and rtype.status_subresource:
        return await _status(handlers, request, rtype, path, path.name)
    if sub == "scale" and rtype.scale is not None:
        return await _scale(handlers, request, rtype, rtype.scale, path, path.name)
    if (rtype.group, rtype.resource) == ("", "pods") and sub in ("log", "binding", "eviction"):
        return await _pod_subresource(handlers, request, rtype, path, path.name)
    if (rtype.group, rtype.resource) == ("", "namespaces") and sub == "finalize":
        if request.method != "PUT":
            raise _METHOD_NOT_ALLOWED
        body = await read_json(request)
        old = handlers.service.get(rtype, "", path.name)
        new = copy.deepcopy(old)
        new["spec"] = dict(
            new.get("spec") or {}, finalizers=list(((body or {}).get("spec") or {}).get("finalizers") or [])
        )
        new["metadata"]["resourceVersion"] = (body.get("metadata") or {}).get("resourceVersion") or ""
        updated = await handlers.service.update(rtype, "", path.name, new, WriteOptions())
        return json_response(updated)
    raise _not_found()


async def _status(
    handlers: ResourceHandlers, request: web.Request, rtype: ResourceType, path: ResourcePath, name: str
) -> web.StreamResponse:
    namespace = path.namespace or ""
    service = handlers.service
    if request.method == "GET":
        return json_response(service.as_version(rtype, service.get(rtype, namespace, name)))
    opts = handlers._write_options(request)
    if request.method == "PUT":
        updated = await service.update(
            rtype, namespace, name, await read_json(request), opts, subresource="status"
        )
        return json_response(updated, 200, opts.warnings)
    if request.method == "PATCH":
        patched, _ = await service.patch(
            rtype, namespace, name, request.content_type, await request.read(), opts, subresource="status"
        )
        return json_response(patched, 200, opts.warnings)
    raise _METHOD_NOT_ALLOWED


def _read_path(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _write_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value


def _selector_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = [f"{k}={v}" for k, v in sorted((value.get("matchLabels") or {}).items())]
        for expr in value.get("matchExpressions") or ():
            op = expr["operator"]
            if op in ("In", "NotIn"):
                parts.append(f"{expr['key']} {op.lower()} ({','.join(expr.get('values') or [])})")
            elif op == "Exists":
                parts.append(expr["key"])
            else:
                parts.append("!" + expr["key"])
        return ",".join(parts)
    return ""


def _to_scale(rtype: ResourceType, paths: ScalePaths, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector_source = (
        _read_path(obj, ".spec.selector")
        if not rtype.is_custom
        else (_read_path(obj, paths.label_selector) if paths.label_selector else None)
    )
    status: dict[str, Any] = {"replicas": int(_read_path(obj, paths.status_replicas) or 0)}
    selector = _selector_string(selector_source)
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(_read_path(obj, paths.spec_replicas) or 0)},
        "status": status,
    }


async def _scale(
    handlers: ResourceHandlers,
    request: web.Request,
    rtype: ResourceType,
    paths: ScalePaths,
    path: ResourcePath,
    name: str,
) -> web.StreamResponse:
    namespace = path.namespace or ""
    service = handlers.service
    if request.method == "GET":
        return json_response(_to_scale(rtype, paths, service.get(rtype, namespace, name)))
    if request.method not in ("PUT", "PATCH"):
        raise _METHOD_NOT_ALLOWED
    opts = handlers._write_options(request)
    for _ in range(8):
        stored = service.get(rtype, namespace, name)
        current_scale = _to_scale(rtype, paths, stored)
        if request.method == "PUT":
            scale = await read_json(request)
        else:
            scale = apply_patch(
                rtype, current_scale, request.content_type, await request.read(), opts, name, namespace
            )
        wanted_rv = ((scale or {}).get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != stored["metadata"]["resourceVersion"]:
            raise conflict(rtype.resource, rtype.group, name)
        replicas = ((scale or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    field_cause(
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                    )
                ],
            )
        new = copy.deepcopy(stored)
        _write_path(new, paths.spec_replicas, replicas)
        updated = await service.update_checked(rtype, stored, new)
        if updated is not None:
            return json_response(_to_scale(rtype, paths, updated), 200, opts.warnings)
    raise conflict(rtype.resource, rtype.group, name)


async def _pod_subresource(
    handlers: ResourceHandlers, request: web.Request, rtype: ResourceType, path: ResourcePath, name: str
) -> web.StreamResponse:
    namespace = path.namespace or ""
    service = handlers.service
    pod = service.get(rtype, namespace, name)
    if path.subresource == "log":
        if request.method != "GET":
            raise _METHOD_NOT_ALLOWED
        if query_bool(request, "follow"):
            return await follow_log(request, lambda: handlers.storage.get(rtype.store_key, namespace, name))
        text = ""
        if handlers.log_provider is not None:
            text = await handlers.log_provider(namespace, name, dict(request.query))
        return web.Response(text=text, content_type="text/plain")
    if request.method != "POST":
        raise _METHOD_NOT_ALLOWED
    body = await read_json(request)
    if path.subresource == "binding":
        target = (body or {}).get("target") or {}
        if not target.get("name"):
            raise bad_request("binding target name is required")
        if (pod.get("spec") or {}).get("nodeName"):
            raise conflict(
                "pods/binding",
                "",
                name,
                f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
            )
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = target["name"]
        conditions = [
            c for c in (new.get("status") or {}).get("conditions") or () if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
            }
        )
        new.setdefault("status", {})["conditions"] = conditions
        if await service.update_checked(rtype, pod, new, subresource="*") is None:
            raise conflict("pods/binding", "", name)
        return json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )
    await service.delete(rtype, namespace, name, (body or {}).get("deleteOptions") or {})
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
    )
