"""The RBAC mode's request gate: authenticate the bearer token, authorize with RBAC, answer self-reviews.

Installed by ``LocalCluster(rbac=True)`` as the API server's ``access``; off by default, when the server
checks only its single admin token (if any) and allows everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaito.localcluster.apiserver.authn import TokenAuthenticator, UserInfo, current_user
from kaito.localcluster.apiserver.errors import ApiError, bad_request
from kaito.localcluster.apiserver.rbac import AccessLog, RbacAuthorizer, forbidden_status_message
from kaito.localcluster.apiserver.requestinfo import RequestAttributes, request_attributes
from kaito.localcluster.apiserver.requests import json_response, read_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
# Served to anyone, token or not (kube-apiserver's system:public-info-viewer).
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _ResourceAttributes(_Shape):
    namespace: str = ""
    verb: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


class _NonResourceAttributes(_Shape):
    path: str = ""
    verb: str = ""


class _AccessReviewSpec(_Shape):
    resource_attributes: _ResourceAttributes | None = Field(default=None, alias="resourceAttributes")
    non_resource_attributes: _NonResourceAttributes | None = Field(
        default=None, alias="nonResourceAttributes"
    )


class _AccessReview(_Shape):
    spec: _AccessReviewSpec


def _review_attributes(spec: _AccessReviewSpec) -> RequestAttributes:
    if spec.resource_attributes is not None:
        r = spec.resource_attributes
        return RequestAttributes(
            verb=r.verb,
            path="",
            resource_request=True,
            api_group=r.group,
            api_version=r.version,
            resource=r.resource,
            subresource=r.subresource,
            namespace=r.namespace,
            name=r.name,
        )
    if spec.non_resource_attributes is not None:
        return RequestAttributes(spec.non_resource_attributes.verb, spec.non_resource_attributes.path)
    raise ApiError(
        422,
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: '
        '"null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
        "Invalid",
        group="authorization.k8s.io",
        kind="SelfSubjectAccessReview",
    )


class AccessControl:
    """Authenticates and authorizes every request but the public health and version paths."""

    def __init__(
        self,
        authenticator: TokenAuthenticator,
        authorizer: RbacAuthorizer,
        log: AccessLog,
        public_paths: tuple[str, ...] = PUBLIC_PATHS,
    ) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.log = log
        self.public_paths = public_paths

    def check(self, user: UserInfo, attrs: RequestAttributes) -> bool:
        """Authorize and (for non-superusers) record the decision."""
        decision = self.authorizer.authorize(user, attrs)
        if not user.is_superuser:
            self.log.record(user, attrs, decision)
        return decision.allowed

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(self.public_paths):
            return await handler(request)
        user = self.authenticator.authenticate(request.headers.get("Authorization", ""))
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        attrs = request_attributes(request.method, request.path, request.query)
        if not self.check(user, attrs):
            raise ApiError(
                403,
                forbidden_status_message(user, attrs),
                "Forbidden",
                name=attrs.name,
                group=attrs.api_group,
                kind=attrs.resource,
            )
        if request.method == "POST" and request.path.rstrip("/") == _ACCESS_REVIEWS:
            return await self._access_review(request, user)
        if request.method == "POST" and request.path.rstrip("/") == _SELF_REVIEWS:
            return await self._self_review(request, user)
        token = current_user.set(user)
        try:
            return await handler(request)
        finally:
            current_user.reset(token)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("the body must be an object")
        return body

    async def _access_review(self, request: web.Request, user: UserInfo) -> web.Response:
        """SelfSubjectAccessReview answered truthfully for the caller (`kubectl auth can-i`)."""
        body = await self._body(request)
        try:
            review = _AccessReview.model_validate(body)
        except ValidationError as err:
            raise bad_request(f"invalid SelfSubjectAccessReview: {err.errors()[0]['msg']}") from None
        decision = self.authorizer.authorize(user, _review_attributes(review.spec))
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        answer = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": body.get("spec"),
            "status": status,
        }
        return json_response(answer, 201)

    async def _self_review(self, request: web.Request, user: UserInfo) -> web.Response:
        """SelfSubjectReview (`kubectl auth whoami`): the caller's user name and groups."""
        await self._body(request)
        answer = {
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}},
        }
        return json_response(answer, 201)
