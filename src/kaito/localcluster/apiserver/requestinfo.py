"""What a request asks to do, in the terms RBAC rules speak: verb, API group, resource, namespace, name.

Follows kube-apiserver's request-info rules: ``/api`` and ``/apis/<group>`` paths below a version are resource
requests, everything else (discovery roots, ``/version``, ``/healthz``) a non-resource URL whose verb is the
lowercased HTTP method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    """One request's authorization attributes (``resource_request`` False: only ``verb`` and ``path``)."""

    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified_resource(self) -> str:
        """``resource`` or ``resource/subresource``, as rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _name_from_field_selector(selector: str) -> str:
    """``metadata.name=X`` (or ``==``) in a field selector narrows a list or watch to one name."""
    for term in selector.split(","):
        for op in ("==", "="):
            key, sep, value = term.partition(op)
            if sep and key.strip() == "metadata.name" and not key.endswith("!"):
                return value.strip()
    return ""


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """The attributes of ``method path?query``."""
    parts = [p for p in path.split("/") if p]
    method_verb = method.lower()
    if not parts or parts[0] not in ("api", "apis"):
        return RequestAttributes(method_verb, path)
    # /api/v1/... or /apis/<group>/<version>/...: anything shorter is discovery.
    group_parts = 2 if parts[0] == "api" else 3
    if len(parts) <= group_parts:
        return RequestAttributes(method_verb, path)
    group = "" if parts[0] == "api" else parts[1]
    version = parts[group_parts - 1]
    rest = parts[group_parts:]
    verb = _METHOD_VERBS.get(method, "delete" if method == "DELETE" else method_verb)
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return RequestAttributes(method_verb, path)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if _truthy(query.get("watch")) else "list"
    if verb in ("list", "watch") and not name:
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(
        verb=verb,
        path=path,
        resource_request=True,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
