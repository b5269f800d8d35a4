"""Discovery: /version, /api, /apis, group and group-version resource lists, aggregated discovery."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from kaito.localcluster.apiserver.registry import Registry, ResourceType

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
_SUB_VERBS = ["get", "patch", "update"]
VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.0-kaito-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}


def wants_aggregated(request: web.Request) -> str | None:
    """The aggregated-discovery media type the client asked for, if any."""
    for option in request.headers.get("Accept", "").split(","):
        params = {p.strip() for p in option.split(";")}
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params:
            if "v=v2" in params:
                return AGGREGATED_V2
            if "v=v2beta1" in params:
                return AGGREGATED_V2BETA1
    return None


def _storage_hash(rtype: ResourceType) -> str:
    digest = hashlib.sha256(f"{rtype.group}/{rtype.storage_version or rtype.version}/{rtype.kind}".encode())
    return digest.hexdigest()[:11]


def _subresources(rtype: ResourceType) -> list[tuple[str, str, str, str, list[str]]]:
    """(name, group, version, kind, verbs) of each subresource."""
    subs: list[tuple[str, str, str, str, list[str]]] = []
    if rtype.status_subresource:
        subs.append(("status", rtype.group, rtype.version, rtype.kind, _SUB_VERBS))
    if rtype.scale is not None:
        subs.append(("scale", "autoscaling", "v1", "Scale", _SUB_VERBS))
    if (rtype.group, rtype.resource) == ("", "pods"):
        subs += [
            ("log", "", "v1", "Pod", ["get"]),
            ("binding", "", "v1", "Binding", ["create"]),
            ("eviction", "policy", "v1", "Eviction", ["create"]),
        ]
    if (rtype.group, rtype.resource) == ("", "namespaces"):
        subs.append(("finalize", "", "v1", "Namespace", ["update"]))
    return subs


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = [t for t in registry.all() if t.group == group and t.version == version]
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in sorted(types, key=lambda t: t.resource):
        entry: dict[str, Any] = {
            "name": rtype.resource,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(rtype.verbs),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        entry["storageVersionHash"] = _storage_hash(rtype)
        resources.append(entry)
        for name, sub_group, sub_version, kind, verbs in _subresources(rtype):
            sub: dict[str, Any] = {
                "name": f"{rtype.resource}/{name}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            if (sub_group, sub_version) != (group, version):
                sub["group"], sub["version"] = sub_group, sub_version
            resources.append(sub)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_entry(g, versions) for g, versions in registry.ordered_groups() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return dict(_group_entry(group, versions), kind="APIGroup", apiVersion="v1")


def _aggregated_resource(rtype: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rtype.resource,
        "responseKind": {"group": rtype.group, "version": rtype.version, "kind": rtype.kind},
        "scope": "Namespaced" if rtype.namespaced else "Cluster",
        "singularResource": rtype.singular,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    subs = [
        {"subresource": name, "responseKind": {"group": g, "version": v, "kind": kind}, "verbs": verbs}
        for name, g, v, kind, verbs in _subresources(rtype)
    ]
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, legacy: bool, media_type: str) -> dict[str, Any]:
    """Aggregated discovery for /api (legacy=True) or /apis."""
    items = []
    for group, versions in registry.ordered_groups():
        if legacy != (group == ""):
            continue
        version_entries = []
        for version in versions:
            types = sorted(
                (t for t in registry.all() if t.group == group and t.version == version),
                key=lambda t: t.resource,
            )
            version_entries.append(
                {
                    "version": version,
                    "resources": [_aggregated_resource(t) for t in types],
                    "freshness": "Current",
                }
            )
        metadata: dict[str, Any] = {"name": group} if group else {}
        metadata["creationTimestamp"] = None
        items.append({"metadata": metadata, "versions": version_entries})
    api_version = "apidiscovery.k8s.io/v2" if "v=v2;" in media_type + ";" else "apidiscovery.k8s.io/v2beta1"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
