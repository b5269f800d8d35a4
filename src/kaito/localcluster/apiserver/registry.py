"""The kinds the API server serves: built-in resource types plus those CRDs add at runtime."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScalePaths:
    """Where a kind keeps what its ``scale`` subresource reads and writes (JSONPath-like dotted paths)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass
class ResourceType:
    """One served resource: group/version/resource, kind, scope and behaviour flags."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    scale: ScalePaths | None = None
    verbs: tuple[str, ...] = ALL_VERBS
    extra_subresources: tuple[str, ...] = ()
    # Field labels usable in fieldSelector beyond metadata.name / metadata.namespace.
    field_labels: tuple[str, ...] = ()
    # Set for CRD-defined kinds: the storage version and the CRD object itself.
    storage_version: str | None = None
    crd: dict[str, Any] | None = field(default=None, repr=False)
    # CRD `selectableFields` / printer columns for this version.
    printer_columns: list[dict[str, Any]] = field(default_factory=list, repr=False)
    schema: dict[str, Any] | None = field(default=None, repr=False)
    # Another resource whose storage this one shares (events.k8s.io events are core/v1 events).
    shares_storage_of: tuple[str, str] | None = None
    # Create-only review kinds (SelfSubjectAccessReview...): answered, never stored.
    review: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        if self.crd is not None:
            return str(self.crd["spec"]["names"].get("singular") or self.kind.lower())
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        if self.crd is not None:
            return str(self.crd["spec"]["names"].get("listKind") or self.kind + "List")
        return self.kind + "List"

    @property
    def store_key(self) -> tuple[str, str]:
        """Objects of every version of one group/resource share storage."""
        return self.shares_storage_of or (self.group, self.resource)

    @property
    def is_custom(self) -> bool:
        return self.crd is not None


# Preferred order of groups in discovery, as kube-apiserver lists them.
GROUP_ORDER = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "policy",
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
)


class Registry:
    """Looks up served resource types by (group, version, resource); CRDs add and remove entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._by_store: dict[tuple[str, str], list[ResourceType]] = {}
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its served versions
        self.generation = 0  # bumped on every change, for discovery/OpenAPI caches
        from kaito.localcluster.apiserver.builtin_types import BUILTIN_TYPES

        for rtype in BUILTIN_TYPES:
            self._add(rtype)

    def _add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.resource)] = rtype
        self._by_store.setdefault(rtype.store_key, []).append(rtype)

    def get(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._types.get((group, version, resource))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def versions_of(self, group: str, resource: str) -> list[ResourceType]:
        return list(self._by_store.get((group, resource), ()))

    def any_version(self, group: str, resource: str) -> ResourceType | None:
        """A served type storing (group, resource) — its own version, not an alias sharing the storage."""
        types = self._by_store.get((group, resource))
        if not types:
            return None
        return next((t for t in types if t.shares_storage_of is None), types[0])

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for rtype in self._types.values():
            if rtype.group == group and rtype.kind == kind:
                return rtype
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first."""
        result: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = result.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        for group, versions in result.items():
            preferred = self._preferred_version(group)
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
        return result

    def _preferred_version(self, group: str) -> str | None:
        for types in self._custom.values():
            if types and types[0].group == group:
                return _version_priority_sorted([t.version for t in types])[0]
        return None

    def ordered_groups(self) -> list[tuple[str, list[str]]]:
        groups = self.groups()
        known = [g for g in GROUP_ORDER if g in groups]
        rest = sorted(g for g in groups if g not in GROUP_ORDER)
        return [(g, groups[g]) for g in known + rest]

    def set_crd(self, crd: dict[str, Any]) -> None:
        """Serve (or re-serve) the versions a CustomResourceDefinition declares."""
        with self._lock:
            self._remove_crd_locked(crd["metadata"]["name"])
            spec = crd["spec"]
            names = spec["names"]
            group = spec["group"]
            storage = next(
                (v["name"] for v in spec["versions"] if v.get("storage")), spec["versions"][0]["name"]
            )
            served: list[ResourceType] = []
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                subresources = version.get("subresources") or {}
                scale = subresources.get("scale")
                rtype = ResourceType(
                    group=group,
                    version=version["name"],
                    resource=names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    short_names=tuple(names.get("shortNames") or ()),
                    categories=tuple(names.get("categories") or ()),
                    status_subresource="status" in subresources,
                    scale=ScalePaths(
                        scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath")
                    )
                    if scale
                    else None,
                    field_labels=tuple(
                        f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or ()
                    ),
                    storage_version=storage,
                    crd=crd,
                    printer_columns=list(version.get("additionalPrinterColumns") or ()),
                    schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                )
                self._add(rtype)
                served.append(rtype)
            self._custom[crd["metadata"]["name"]] = served
            self.generation += 1

    def remove_crd(self, name: str) -> None:
        with self._lock:
            self._remove_crd_locked(name)
            self.generation += 1

    def _remove_crd_locked(self, name: str) -> None:
        for rtype in self._custom.pop(name, []):
            self._types.pop((rtype.group, rtype.version, rtype.resource), None)
            siblings = self._by_store.get(rtype.store_key, [])
            if rtype in siblings:
                siblings.remove(rtype)
            if not siblings:
                self._by_store.pop(rtype.store_key, None)


def _version_priority_sorted(versions: list[str]) -> list[str]:
    """Kubernetes version priority: GA > beta > alpha, higher numbers first, others last alphabetically."""
    import re

    def key(version: str) -> tuple[int, int, int, str]:
        match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
        if not match:
            return (3, 0, 0, version)
        major = int(match.group(1))
        stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
        minor = int(match.group(3) or 0)
        return (stage, -major, -minor, version)

    return sorted(versions, key=key)
