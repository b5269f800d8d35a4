"""Failures a person must act on show up in conditions: quota, image pulls, invalid specs, sizing."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.controllers.resource import CONFIGMAPS
from kaito.reconcilers import WorkspaceSettings, WorkspaceSetup
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES

from .conftest import UNPULLABLE, Cluster, condition, eventually, load_example, running_operator


def _has_condition(type_: str, status: str, reason: str | None = None) -> Any:
    def check(ws: dict[str, Any] | None) -> dict[str, Any] | None:
        found = condition(ws, type_)
        if found and found["status"] == status and (reason is None or found["reason"] == reason):
            return found
        return None

    return check


async def _wait_condition(
    cluster: Cluster, ns: str, name: str, type_: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    check = _has_condition(type_, status, reason)

    async def probe() -> dict[str, Any] | None:
        return check(await cluster.workspace(ns, name))  # type: ignore[no-any-return]

    return await eventually(probe, f"{type_}={status} ({reason})", within=40)


async def test_quota_failure_of_a_nodeclaim_shows_in_resource_ready(cluster: Cluster) -> None:
    # Only the workspace controller runs; the test plays the provisioner and reports a quota error.
    async with running_operator(cluster.kubeconfig, provisioner=False):
        ns = await cluster.namespace()
        doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, f"q-{uuid.uuid4().hex[:6]}")
        name = doc["metadata"]["name"]
        await cluster.kube.create(WORKSPACES, doc)
        claims = await eventually(lambda: cluster.nodeclaims_of(ns, name), "a NodeClaim")
        claim = claims[0]
        message = (
            "Operation could not be completed as it results in exceeding approved standardNCFamily quota"
        )
        claim["status"] = {
            "conditions": [
                {"type": "Launched", "status": "False", "reason": "QuotaExceeded", "message": message,
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        }  # fmt: skip
        await cluster.kube.update_status(NODECLAIMS, claim)
        found = await _wait_condition(cluster, ns, name, "ResourceReady", "False", "QuotaExceeded")
        assert message in found["message"]
        assert claim["metadata"]["name"] in found["message"]
        ready = condition(await cluster.workspace(ns, name), "WorkspaceReady")
        assert ready is not None
        assert ready["status"] == "False"
        await cluster.kube.delete(WORKSPACES, name, ns)
        await eventually(lambda: _gone(cluster, ns, name), "deletion without a provisioner")


async def test_image_pull_backoff_shows_in_inference_ready(cluster: Cluster) -> None:
    settings = WorkspaceSettings(inference_image=UNPULLABLE)
    async with running_operator(cluster.kubeconfig, settings):
        ns = await cluster.namespace()
        doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, f"img-{uuid.uuid4().hex[:6]}")
        name = doc["metadata"]["name"]
        await cluster.kube.create(WORKSPACES, doc)

        async def pull_failure() -> dict[str, Any] | None:
            found = condition(await cluster.workspace(ns, name), "InferenceReady")
            if found and found["reason"] in ("ImagePullBackOff", "ErrImagePull"):
                return found
            return None

        found = await eventually(pull_failure, "InferenceReady=False with an image pull reason", within=40)
        assert found["status"] == "False"
        assert UNPULLABLE in found["message"]
        await cluster.kube.delete(WORKSPACES, name, ns)
        await eventually(lambda: _gone(cluster, ns, name), "deletion")


async def test_workspaces_that_cannot_run_are_failed_with_the_field_to_fix(
    cluster: Cluster, operator: WorkspaceSetup
) -> None:
    ns = await cluster.namespace()
    label = f"bad-{uuid.uuid4().hex[:6]}"
    too_big = {
        "metadata": {"name": "too-big", "namespace": ns},
        "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"apps": label}}},
        "inference": {"preset": {"name": "falcon-40b-instruct"}},
    }
    await cluster.kube.create(WORKSPACES, too_big)
    found = await _wait_condition(cluster, ns, "too-big", "WorkspaceReady", "False")
    assert "resource.instanceType" in found["message"] or "resource.count" in found["message"]
    ws = await cluster.workspace(ns, "too-big")
    assert ws is not None
    assert ws["status"]["state"] == "Failed"
    assert await cluster.nodeclaims_of(ns, "too-big") == [], "nothing is provisioned for a refused plan"


async def test_a_missing_config_map_is_reported_and_picked_up_once_created(cluster: Cluster) -> None:
    async with running_operator(cluster.kubeconfig, WorkspaceSettings(config_recheck_s=0.5)):
        ns = await cluster.namespace()
        label = f"cfg-{uuid.uuid4().hex[:6]}"
        missing_config = {
            "metadata": {"name": "no-config", "namespace": ns},
            "resource": {
                "instanceType": "Standard_NC6s_v3",
                "labelSelector": {"matchLabels": {"apps": label}},
            },
            "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}, "config": "later"},
        }
        await cluster.kube.create(WORKSPACES, missing_config)
        found = await _wait_condition(
            cluster, ns, "no-config", "InferenceReady", "False", "ConfigMapNotFound"
        )
        assert "later" in found["message"]
        ws = await cluster.workspace(ns, "no-config")
        assert ws is not None
        assert ws["status"]["state"] == "Failed"
        configmap = {
            "metadata": {"name": "later", "namespace": ns},
            "data": {"inference_config.yaml": "vllm:\n  max-num-seqs: 8\n"},
        }
        await cluster.kube.create(CONFIGMAPS, configmap)
        await _wait_condition(cluster, ns, "no-config", "WorkspaceReady", "True")
        ws = await cluster.workspace(ns, "no-config")
        assert ws is not None
        assert ws["status"]["state"] == "Ready"


async def _gone(cluster: Cluster, ns: str, name: str) -> bool:
    return await cluster.workspace(ns, name) is None and not await cluster.nodeclaims_of(ns, name)
