"""Admission webhooks see who asked: AdmissionReview ``request.userInfo`` names the authenticated user."""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client as k8s

from kaito.localcluster.cluster import ThreadedLocalCluster

from .conftest import new_api_client
from .test_admission import self_signed

NS = "hooked"
SA = "robot"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KAITO_TEST_KUBECONFIG")), reason="the embedded server's RBAC mode is under test"
)


@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedLocalCluster]:
    threaded = ThreadedLocalCluster(tmp_path_factory.mktemp("admission-user"), persist=False, rbac=True)
    threaded.start()
    yield threaded
    threaded.stop()


@pytest.fixture
async def recording_webhook(tmp_path: Path) -> AsyncIterator[tuple[str, str, list[dict[str, Any]]]]:
    """An HTTPS validating webhook on the loopback that allows everything and keeps every review."""
    reviews: list[dict[str, Any]] = []

    async def validate(request: web.Request) -> web.Response:
        review = await request.json()
        reviews.append(review["request"])
        response = {"uid": review["request"]["uid"], "allowed": True}
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    cert, key, pem = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_post("/validate", validate)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}/validate", base64.b64encode(pem).decode(), reviews
    await runner.cleanup()


async def test_webhook_receives_the_requesting_users_identity(
    rbac_cluster: ThreadedLocalCluster,
    recording_webhook: tuple[str, str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    url, ca_bundle, reviews = recording_webhook
    admin = await new_api_client(rbac_cluster.kubeconfig_path)
    try:
        core: Any = k8s.CoreV1Api(admin)
        rbac: Any = k8s.RbacAuthorizationV1Api(admin)
        await core.create_namespace({"metadata": {"name": NS}})
        account = await core.create_namespaced_service_account(NS, {"metadata": {"name": SA}})
        await rbac.create_namespaced_role(
            NS,
            {
                "metadata": {"name": "cm-writer"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
            },
        )
        await rbac.create_namespaced_role_binding(
            NS,
            {
                "metadata": {"name": "cm-writer"},
                "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-writer"},
            },
        )
        rule = {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["configmaps"],
        }
        hook = {
            "name": "record.test.kaito.sh",
            "rules": [rule],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
            "clientConfig": {"url": url, "caBundle": ca_bundle},
        }
        admission: Any = k8s.AdmissionregistrationV1Api(admin)
        await admission.create_validating_webhook_configuration(
            {"metadata": {"name": "record-user"}, "webhooks": [hook]}
        )

        await core.create_namespaced_config_map(NS, {"metadata": {"name": "by-admin"}})
        kubeconfig = rbac_cluster.cluster.service_account_kubeconfig(NS, SA, tmp_path / "robot.kubeconfig")
        robot = await new_api_client(kubeconfig)
        try:
            robot_core: Any = k8s.CoreV1Api(robot)
            await robot_core.create_namespaced_config_map(NS, {"metadata": {"name": "by-robot"}})
        finally:
            await robot.close()
    finally:
        await admin.close()

    by_name = {review["name"]: review["userInfo"] for review in reviews}
    assert by_name["by-admin"] == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    assert by_name["by-robot"] == {
        "username": f"system:serviceaccount:{NS}:{SA}",
        "uid": account.metadata.uid,
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated"],
    }
