"""The tuning example: a Job fetching the data, training and pushing; its outcome in the conditions."""

from __future__ import annotations

import uuid
from typing import Any

from kaito.controllers.resource import JOBS, SECRETS
from kaito.reconcilers import WorkspaceSettings
from kaito.reconcilers.names import WORKSPACES

from .conftest import Cluster, condition, eventually, is_true, load_example, running_operator

NAME = "workspace-tuning-phi-3"


async def test_tuning_job_runs_and_its_success_is_reported(cluster: Cluster) -> None:
    async with running_operator(cluster.kubeconfig, WorkspaceSettings(tuning_image="local/tune-ok")):
        ns = await cluster.namespace()
        doc = load_example("tuning/kaito_workspace_tuning_phi_3.yaml", ns, f"tune-{uuid.uuid4().hex[:6]}")
        await _push_secret(cluster, ns)
        await cluster.kube.create(WORKSPACES, doc)

        async def succeeded() -> dict[str, Any] | None:
            ws = await cluster.workspace(ns, NAME)
            return ws if is_true(ws, "WorkspaceSucceeded") else None

        ws = await eventually(succeeded, "WorkspaceSucceeded=True", within=45)
        assert is_true(ws, "JobStarted")
        assert is_true(ws, "ResourceReady")
        assert ws["status"]["state"] == "Succeeded"
        job = await cluster.kube.get(JOBS, f"{NAME}-tuning", ns)
        pod = job["spec"]["template"]["spec"]
        fetch = pod["initContainers"][0]
        assert fetch["command"][:5] == ["kaito", "tune", "fetch", "--output", "/mnt/data"]
        assert fetch["command"][5] == "--url"
        assert fetch["command"][6] == doc["tuning"]["input"]["urls"][0]
        tune = pod["containers"][0]
        assert tune["command"][:4] == ["kaito", "tune", "--config", "/etc/kaito/tuning/config.yaml"]
        assert tune["command"][-2:] == ["--push", doc["tuning"]["output"]["image"]]
        assert tune["resources"]["limits"]["nvidia.com/gpu"] == "1"
        secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
        assert secrets == ["myregistry-push-secret"]


async def test_tuning_job_failure_is_reported(cluster: Cluster) -> None:
    async with running_operator(cluster.kubeconfig, WorkspaceSettings(tuning_image="local/tune-fail")):
        ns = await cluster.namespace()
        doc = load_example("tuning/kaito_workspace_tuning_phi_3.yaml", ns, f"tunef-{uuid.uuid4().hex[:6]}")
        await _push_secret(cluster, ns)
        await cluster.kube.create(WORKSPACES, doc)

        async def failed() -> dict[str, Any] | None:
            found = condition(await cluster.workspace(ns, NAME), "WorkspaceSucceeded")
            return found if found and found["status"] == "False" else None

        found = await eventually(failed, "WorkspaceSucceeded=False", within=45)
        assert found["reason"]
        ws = await cluster.workspace(ns, NAME)
        assert ws is not None
        assert ws["status"]["state"] == "Failed"


async def _push_secret(cluster: Cluster, ns: str) -> None:
    secret = {
        "metadata": {"name": "myregistry-push-secret", "namespace": ns},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="},
    }
    await cluster.kube.create(SECRETS, secret)
