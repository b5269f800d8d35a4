"""RBAC authorization: Roles, ClusterRoles and their bindings in storage decide what each user may do.

Kubernetes semantics for rules (verbs, apiGroups, resources incl. ``resource/subresource`` and ``*/sub``,
resourceNames, nonResourceURLs with trailing ``*``) and for subjects (User, Group, ServiceAccount). Not
modelled: aggregation, and the escalation checks on writing roles. A small built-in default policy gives
every authenticated user discovery and self-reviews, as kube-apiserver's bootstrap roles do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaito.localcluster.apiserver.authn import AUTHENTICATED, UserInfo
from kaito.localcluster.apiserver.requestinfo import RequestAttributes
from kaito.localcluster.apiserver.storage import Obj, Storage

RBAC_GROUP = "rbac.authorization.k8s.io"
_CLUSTER_ROLES = (RBAC_GROUP, "clusterroles")
_CLUSTER_ROLE_BINDINGS = (RBAC_GROUP, "clusterrolebindings")
_ROLES = (RBAC_GROUP, "roles")
_ROLE_BINDINGS = (RBAC_GROUP, "rolebindings")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PolicyRule(_Shape):
    verbs: list[str]
    api_groups: list[str] = Field(default_factory=list, alias="apiGroups")
    resources: list[str] = Field(default_factory=list)
    resource_names: list[str] = Field(default_factory=list, alias="resourceNames")
    non_resource_urls: list[str] = Field(default_factory=list, alias="nonResourceURLs")

    def allows(self, attrs: RequestAttributes) -> bool:
        if not ("*" in self.verbs or attrs.verb in self.verbs):
            return False
        if not attrs.resource_request:
            return any(_url_matches(url, attrs.path) for url in self.non_resource_urls)
        if not ("*" in self.api_groups or attrs.api_group in self.api_groups):
            return False
        if not any(_resource_matches(r, attrs) for r in self.resources):
            return False
        return not self.resource_names or attrs.name in self.resource_names


class Subject(_Shape):
    kind: str
    name: str
    namespace: str = ""


class RoleRef(_Shape):
    kind: str
    name: str


class _Role(_Shape):
    rules: list[PolicyRule] | None = None


class _Binding(_Shape):
    subjects: list[Subject] | None = None
    role_ref: RoleRef = Field(alias="roleRef")


def _url_matches(pattern: str, path: str) -> bool:
    if pattern == "*" or pattern == path:
        return True
    return pattern.endswith("*") and path.startswith(pattern[:-1])


def _resource_matches(pattern: str, attrs: RequestAttributes) -> bool:
    if pattern in ("*", attrs.qualified_resource):
        return True
    return bool(attrs.subresource) and pattern == f"*/{attrs.subresource}"


def _subject_matches(subject: Subject, user: UserInfo, binding_namespace: str) -> bool:
    if subject.kind == "User":
        return subject.name == user.name
    if subject.kind == "Group":
        return subject.name in user.groups
    if subject.kind == "ServiceAccount":
        namespace = subject.namespace or binding_namespace
        return user.service_account == (namespace, subject.name)
    return False


# kube-apiserver's bootstrap policy, reduced to what any authenticated client needs (system:discovery,
# system:public-info-viewer, system:basic-user): kept in memory, never stored.
DEFAULT_POLICY: tuple[tuple[str, PolicyRule], ...] = (
    (
        "system:discovery",
        PolicyRule(
            verbs=["get"],
            nonResourceURLs=[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/openapi",
                "/openapi/*",
                "/version",
                "/version/",
                "/healthz",
                "/livez",
                "/readyz",
            ],
        ),
    ),
    (
        "system:basic-user",
        PolicyRule(
            verbs=["create"],
            apiGroups=["authorization.k8s.io"],
            resources=["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        ),
    ),
    (
        "system:basic-user",
        PolicyRule(verbs=["create"], apiGroups=["authentication.k8s.io"], resources=["selfsubjectreviews"]),
    ),
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class AccessRecord:
    """One authorization decision, kept for tests and ``kaito local`` diagnostics."""

    user: str
    attributes: RequestAttributes
    allowed: bool
    reason: str


class AccessLog:
    """The most recent decisions made for non-superusers (bounded; the oldest are dropped first)."""

    def __init__(self, max_records: int = 50_000) -> None:
        self.records: deque[AccessRecord] = deque(maxlen=max_records)

    def record(self, user: UserInfo, attrs: RequestAttributes, decision: Decision) -> None:
        self.records.append(AccessRecord(user.name, attrs, decision.allowed, decision.reason))

    def allowed(self, user: str | None = None) -> list[AccessRecord]:
        return [r for r in list(self.records) if r.allowed and user in (None, r.user)]

    def denied(self, user: str | None = None) -> list[AccessRecord]:
        return [r for r in list(self.records) if not r.allowed and user in (None, r.user)]

    def clear(self) -> None:
        self.records.clear()


def _parse(model: type[_Role] | type[_Binding], obj: Obj) -> _Role | _Binding | None:
    try:
        return model.model_validate(obj)
    except ValidationError:
        return None  # a malformed object grants nothing


class RbacAuthorizer:
    """Answers "may ``user`` do ``attrs``?" from the RBAC objects in storage (read on every call)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def authorize(self, user: UserInfo, attrs: RequestAttributes) -> Decision:
        if user.is_superuser:
            return Decision(True, "the user is a member of system:masters")
        if AUTHENTICATED in user.groups:
            for role_name, rule in DEFAULT_POLICY:
                if rule.allows(attrs):
                    return Decision(True, f'RBAC: allowed by the default ClusterRole "{role_name}"')
        for binding_kind, binding_name, binding_ns, role_ref in self._bindings(user, attrs.namespace):
            for rule in self._rules(role_ref, binding_ns):
                if rule.allows(attrs):
                    where = f' in namespace "{binding_ns}"' if binding_ns else ""
                    return Decision(
                        True,
                        f'RBAC: allowed by {binding_kind} "{binding_name}"{where} of {role_ref.kind} '
                        f'"{role_ref.name}" to {user.name}',
                    )
        return Decision(False)

    def _bindings(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, str, str, RoleRef]]:
        sources: list[tuple[str, Iterable[Obj]]] = [
            ("ClusterRoleBinding", self.storage.items(_CLUSTER_ROLE_BINDINGS))
        ]
        if namespace:
            sources.append(("RoleBinding", self.storage.items(_ROLE_BINDINGS, namespace)))
        for kind, objects in sources:
            for obj in objects:
                binding = _parse(_Binding, obj)
                if not isinstance(binding, _Binding):
                    continue
                binding_ns = obj["metadata"].get("namespace", "")
                if any(_subject_matches(s, user, binding_ns) for s in binding.subjects or ()):
                    yield kind, obj["metadata"]["name"], binding_ns, binding.role_ref

    def _rules(self, ref: RoleRef, binding_namespace: str) -> list[PolicyRule]:
        if ref.kind == "ClusterRole":
            obj = self.storage.get(_CLUSTER_ROLES, "", ref.name)
        elif ref.kind == "Role" and binding_namespace:
            obj = self.storage.get(_ROLES, binding_namespace, ref.name)
        else:
            return []
        role = _parse(_Role, obj) if obj is not None else None
        return list(role.rules or ()) if isinstance(role, _Role) else []


def forbidden_message(user: UserInfo, attrs: RequestAttributes) -> str:
    """The ``User "x" cannot verb resource "r" in API group "g" in the namespace "n"`` sentence."""
    if not attrs.resource_request:
        return f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (
        f'User "{user.name}" cannot {attrs.verb} resource "{attrs.qualified_resource}" '
        f'in API group "{attrs.api_group}" {where}'
    )


def forbidden_status_message(user: UserInfo, attrs: RequestAttributes, reason: str = "") -> str:
    """kube-apiserver's whole 403 message: ``<resource>[.<group>] ["<name>"] is forbidden: ...``."""
    detail = forbidden_message(user, attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request:
        return f"forbidden: {detail}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    named = f' "{attrs.name}"' if attrs.name else ""
    return f"{qualified}{named} is forbidden: {detail}"
