"""OwnerReferencesPermissionEnforcement: who may point ownerReferences at what (RBAC mode only).

As kube-apiserver's admission plugin: changing an object's ownerReferences needs ``delete`` on the object
(updates only), and a reference that newly sets ``blockOwnerDeletion`` needs ``update`` on the owner's
``finalizers`` subresource. Runs after the webhooks, for requests made by a non-superuser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from kaito.localcluster.apiserver.authn import UserInfo, current_user
from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.apiserver.objects import AdmissionHook
from kaito.localcluster.apiserver.rbac import forbidden_message
from kaito.localcluster.apiserver.registry import Registry, ResourceType
from kaito.localcluster.apiserver.requestinfo import RequestAttributes
from kaito.localcluster.apiserver.storage import Obj

# (group, resource, subresource) the plugin leaves alone, as kube-apiserver does.
_EXEMPT = (("", "pods", "status"),)


def _refs(obj: Obj | None) -> list[Mapping[str, Any]]:
    return list(((obj or {}).get("metadata") or {}).get("ownerReferences") or [])


def _newly_blocking(new: Sequence[Mapping[str, Any]], old: Sequence[Mapping[str, Any]]) -> list[Any]:
    blocking_before = {ref.get("uid") for ref in old if ref.get("blockOwnerDeletion")}
    return [ref for ref in new if ref.get("blockOwnerDeletion") and ref.get("uid") not in blocking_before]


class OwnerReferenceEnforcement:
    """An ObjectService admission hook wrapping the previous one (the webhooks)."""

    def __init__(
        self,
        inner: AdmissionHook | None,
        registry: Registry,
        check: Callable[[UserInfo, RequestAttributes], bool],
    ) -> None:
        self.inner = inner
        self.registry = registry
        self.check = check

    async def __call__(
        self,
        operation: str,
        rtype: ResourceType,
        subresource: str,
        obj: Obj | None,
        old: Obj | None,
        dry_run: bool,
    ) -> Obj | None:
        if self.inner is not None:
            obj = await self.inner(operation, rtype, subresource, obj, old, dry_run) or obj
        user = current_user.get()
        if (
            user is None
            or user.is_superuser
            or obj is None
            or operation not in ("CREATE", "UPDATE")
            or (rtype.group, rtype.resource, subresource) in _EXEMPT
        ):
            return obj
        new_refs, old_refs = _refs(obj), _refs(old)
        if new_refs == old_refs or (operation == "CREATE" and not new_refs):
            return obj
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "") if rtype.namespaced else ""
        if operation == "UPDATE":
            delete = RequestAttributes(
                "delete", "", True, rtype.group, rtype.version, rtype.resource, subresource, namespace,
                meta.get("name", ""),
            )  # fmt: skip
            if not self.check(user, delete):
                self._deny(rtype, meta, f"cannot set an ownerRef on a resource you can't delete: "
                           f"{forbidden_message(user, delete)}")  # fmt: skip
        for ref in _newly_blocking(new_refs, old_refs):
            self._check_owner(user, rtype, meta, namespace, ref)
        return obj

    def _check_owner(
        self, user: UserInfo, rtype: ResourceType, meta: Mapping[str, Any], namespace: str, ref: Any
    ) -> None:
        group, _, version = str(ref.get("apiVersion", "")).rpartition("/")
        owner = self.registry.by_kind(group, str(ref.get("kind", "")))
        if owner is None:
            self._deny(
                rtype,
                meta,
                "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion "
                f"{ref.get('apiVersion')} Kind {ref.get('kind')}",
            )
        finalizers = RequestAttributes(
            "update", "", True, group, version, owner.resource, "finalizers",
            namespace if owner.namespaced else "", str(ref.get("name", "")),
        )  # fmt: skip
        if not self.check(user, finalizers):
            self._deny(
                rtype,
                meta,
                "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
                f"finalizers on: {forbidden_message(user, finalizers)}",
            )

    @staticmethod
    def _deny(rtype: ResourceType, meta: Mapping[str, Any], why: str) -> NoReturn:
        name = str(meta.get("name", ""))
        qualified = f"{rtype.resource}.{rtype.group}" if rtype.group else rtype.resource
        named = f' "{name}"' if name else ""
        raise ApiError(
            403,
            f"{qualified}{named} is forbidden: {why}",
            "Forbidden",
            name=name,
            group=rtype.group,
            kind=rtype.resource,
        )
