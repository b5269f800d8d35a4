"""Admission webhooks against a real local HTTPS server with its own CA (allow, deny, mutate, failures)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.localcluster.schema import AdmissionChain, AdmissionDenied

from .schema_webhook import WebhookServer, make_ca, pem_bundle, serve_webhook


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebhookServer]:
    async with serve_webhook(tmp_path_factory.mktemp("tls")) as hook:
        yield hook


def webhook(name: str, path: str, ca_bundle: str, **extra: Any) -> dict[str, Any]:
    client: dict[str, Any] = {
        "service": {"namespace": "kaito-system", "name": "webhook", "path": path, "port": 443},
        "caBundle": ca_bundle,
    }
    hook: dict[str, Any] = {
        "name": name,
        "clientConfig": client,
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": ["kaito.sh"],
                "apiVersions": ["*"],
                "resources": ["workspaces"],
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
    }
    hook.update(extra)
    return hook


def configuration(kind: str, name: str, *hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": list(hooks),
    }


def chain_for(server: WebhookServer, *configs: dict[str, Any], port: int | None = None) -> AdmissionChain:
    async def load() -> list[dict[str, Any]]:
        return list(configs)

    async def resolve(namespace: str, name: str, service_port: int) -> str:
        assert (namespace, name, service_port) == ("kaito-system", "webhook", 443)
        return f"https://127.0.0.1:{port or server.port}"

    async def namespace_labels(namespace: str) -> dict[str, str] | None:
        return {"default": {"env": "dev"}, "prod": {"env": "prod"}}.get(namespace)

    return AdmissionChain(load, resolve, namespace_labels)


def workspace(name: str = "w", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels or {"app": "x"})},
        "resource": {"count": 1},
    }


async def admit(
    chain: AdmissionChain, body: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any] | None:
    body = body if body is not None else workspace()
    request: dict[str, Any] = {
        "operation": "CREATE",
        "group": "kaito.sh",
        "version": "v1beta1",
        "resource": "workspaces",
        "subresource": "",
        "kind": "Workspace",
        "namespace": "default",
        "name": body["metadata"]["name"],
        "obj": body,
        "old": None,
        "user": "alice",
        "dry_run": False,
    }
    request.update(overrides)
    try:
        return await chain.admit(**request)
    finally:
        await chain.close()


async def test_allow_sends_a_complete_admission_review(server: WebhookServer) -> None:
    server.reviews.clear()
    chain = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration", "v", webhook("allow.kaito.sh", "/allow", server.ca_bundle)
        ),
    )
    assert await admit(chain) == workspace()
    ((path, review),) = server.reviews
    assert path == "/allow"
    assert review["apiVersion"] == "admission.k8s.io/v1"
    request = review["request"]
    assert request["operation"] == "CREATE"
    assert request["kind"] == {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"}
    assert request["resource"] == {"group": "kaito.sh", "version": "v1beta1", "resource": "workspaces"}
    assert request["userInfo"] == {"username": "alice"}
    assert request["object"] == workspace()
    assert request["oldObject"] is None


async def test_deny_carries_the_webhook_message_and_code(server: WebhookServer) -> None:
    chain = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration", "v", webhook("deny.kaito.sh", "/deny", server.ca_bundle)
        ),
    )
    with pytest.raises(AdmissionDenied) as caught:
        await admit(chain)
    assert caught.value.code == 422
    assert (
        caught.value.message
        == 'admission webhook "deny.kaito.sh" denied the request: resource.count must be 1'
    )
    silent = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration",
            "v",
            webhook("quiet.kaito.sh", "/deny-silently", server.ca_bundle),
        ),
    )
    with pytest.raises(AdmissionDenied) as caught:
        await admit(silent)
    assert caught.value.code == 403
    assert caught.value.message == 'admission webhook "quiet.kaito.sh" denied the request without explanation'


async def test_mutation_applies_json_patch_before_validation(server: WebhookServer) -> None:
    server.reviews.clear()
    chain = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration",
            "a-validate",
            webhook("allow.kaito.sh", "/allow", server.ca_bundle),
        ),
        configuration(
            "MutatingWebhookConfiguration",
            "z-mutate",
            webhook("mutate.kaito.sh", "/mutate", server.ca_bundle),
        ),
    )
    result = await admit(chain)
    assert result is not None
    assert result["metadata"]["labels"] == {"app": "x", "mutated": "yes"}
    assert server.paths() == ["/mutate", "/allow"]
    assert server.reviews[1][1]["request"]["object"]["metadata"]["labels"]["mutated"] == "yes"


async def test_reinvocation_if_needed_runs_an_earlier_webhook_again(server: WebhookServer) -> None:
    server.reviews.clear()
    chain = chain_for(
        server,
        configuration(
            "MutatingWebhookConfiguration",
            "m",
            webhook("first.kaito.sh", "/mutate-once", server.ca_bundle, reinvocationPolicy="IfNeeded"),
            webhook("second.kaito.sh", "/mutate", server.ca_bundle),
        ),
    )
    result = await admit(chain)
    assert result is not None
    assert server.paths() == ["/mutate-once", "/mutate", "/mutate-once"]
    assert result["metadata"]["labels"] == {"app": "x", "first": "1", "mutated": "yes"}


async def test_failure_policy_fail_versus_ignore_when_unreachable(server: WebhookServer) -> None:
    fail = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration", "v", webhook("down.kaito.sh", "/allow", server.ca_bundle)
        ),
        port=1,
    )
    with pytest.raises(AdmissionDenied) as caught:
        await admit(fail)
    assert caught.value.code == 500
    assert caught.value.reason == "InternalError"
    assert caught.value.message.startswith(
        'Internal error occurred: failed calling webhook "down.kaito.sh": failed to call webhook: Post "https://webhook.kaito-system.svc:443/allow?timeout=10s"'
    )
    ignore = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration",
            "v",
            webhook("down.kaito.sh", "/allow", server.ca_bundle, failurePolicy="Ignore"),
        ),
        port=1,
    )
    assert await admit(ignore) == workspace()


async def test_wrong_ca_and_wrong_hostname_are_refused(server: WebhookServer) -> None:
    _, other_ca = make_ca("someone-else")
    wrong_ca = chain_for(
        server,
        configuration(
            "ValidatingWebhookConfiguration", "v", webhook("tls.kaito.sh", "/allow", pem_bundle(other_ca))
        ),
    )
    with pytest.raises(AdmissionDenied, match="certificate verify failed"):
        await admit(wrong_ca)
    hook = webhook("tls.kaito.sh", "/allow", server.ca_bundle)
    hook["clientConfig"]["service"]["name"] = "webhook"
    hook["clientConfig"]["service"]["namespace"] = "kaito-system"
    impostor = dict(hook)
    impostor["clientConfig"] = {"url": f"https://localhost:{server.port}/allow", "caBundle": server.ca_bundle}
    with pytest.raises(AdmissionDenied, match="certificate verify failed"):
        await admit(chain_for(server, configuration("ValidatingWebhookConfiguration", "v", impostor)))
    plain = dict(hook)
    plain["clientConfig"] = {"url": f"http://127.0.0.1:{server.port}/allow"}
    with pytest.raises(AdmissionDenied, match="must use the https scheme"):
        await admit(chain_for(server, configuration("ValidatingWebhookConfiguration", "v", plain)))
    by_ip = dict(hook)
    by_ip["clientConfig"] = {"url": f"https://127.0.0.1:{server.port}/allow", "caBundle": server.ca_bundle}
    assert (
        await admit(chain_for(server, configuration("ValidatingWebhookConfiguration", "v", by_ip)))
        == workspace()
    )


async def test_bad_responses_and_timeouts_fail_the_request(server: WebhookServer) -> None:
    for path, expected in (
        ("/wrong-uid", "expected response.uid"),
        ("/garbage", "failed to call webhook"),
        ("/slow", "context deadline exceeded"),
    ):
        hook = webhook("odd.kaito.sh", path, server.ca_bundle, timeoutSeconds=1)
        with pytest.raises(AdmissionDenied, match=expected):
            await admit(chain_for(server, configuration("ValidatingWebhookConfiguration", "v", hook)))


async def test_rules_selectors_and_match_conditions_choose_webhooks(server: WebhookServer) -> None:
    hooks = [
        webhook(
            "other-resource",
            "/deny",
            server.ca_bundle,
            rules=[
                {
                    "operations": ["*"],
                    "apiGroups": ["apps"],
                    "apiVersions": ["v1"],
                    "resources": ["deployments"],
                }
            ],
        ),
        webhook(
            "status-only",
            "/deny",
            server.ca_bundle,
            rules=[
                {
                    "operations": ["UPDATE"],
                    "apiGroups": ["*"],
                    "apiVersions": ["*"],
                    "resources": ["workspaces/status"],
                }
            ],
        ),
        webhook("prod-only", "/deny", server.ca_bundle, namespaceSelector={"matchLabels": {"env": "prod"}}),
        webhook(
            "labelled",
            "/deny",
            server.ca_bundle,
            objectSelector={"matchExpressions": [{"key": "team", "operator": "Exists"}]},
        ),
        webhook(
            "conditional",
            "/deny",
            server.ca_bundle,
            matchConditions=[{"name": "skip", "expression": "object.metadata.name != 'w'"}],
        ),
        webhook(
            "cluster-scope",
            "/deny",
            server.ca_bundle,
            rules=[
                {
                    "operations": ["CREATE"],
                    "apiGroups": ["*"],
                    "apiVersions": ["*"],
                    "resources": ["*"],
                    "scope": "Cluster",
                }
            ],
        ),
    ]
    chain = chain_for(server, configuration("ValidatingWebhookConfiguration", "v", *hooks))
    assert await admit(chain) == workspace()
    with pytest.raises(AdmissionDenied, match='"labelled"'):
        await admit(chain, workspace(labels={"team": "a"}))
    with pytest.raises(AdmissionDenied, match='"conditional"'):
        await admit(chain, workspace(name="other"))
    with pytest.raises(AdmissionDenied, match='"prod-only"'):
        await admit(chain, namespace="prod")
    with pytest.raises(AdmissionDenied, match='"status-only"'):
        await admit(chain, operation="UPDATE", subresource="status", old=workspace())


async def test_dry_run_with_side_effects_is_rejected(server: WebhookServer) -> None:
    hook = webhook("effects.kaito.sh", "/allow", server.ca_bundle, sideEffects="Unknown")
    chain = chain_for(server, configuration("ValidatingWebhookConfiguration", "v", hook))
    with pytest.raises(AdmissionDenied, match="does not support dry run") as caught:
        await admit(chain, dry_run=True)
    assert caught.value.code == 400
    assert await admit(chain) == workspace()


async def test_delete_sends_the_old_object(server: WebhookServer) -> None:
    server.reviews.clear()
    hook = webhook(
        "deletes.kaito.sh",
        "/allow",
        server.ca_bundle,
        rules=[
            {
                "operations": ["DELETE"],
                "apiGroups": ["kaito.sh"],
                "apiVersions": ["*"],
                "resources": ["workspaces"],
            }
        ],
    )
    chain = chain_for(server, configuration("ValidatingWebhookConfiguration", "v", hook))
    assert await admit(chain, obj=None, old=workspace(), operation="DELETE") is None
    ((_, review),) = server.reviews
    assert review["request"]["object"] is None
    assert review["request"]["oldObject"] == workspace()
