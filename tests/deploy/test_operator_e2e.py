"""The shipped operator Deployment really runs. On an embedded cluster whose pod runner starts the operator
image as `kaito operator`, `make deploy` brings two replicas to Ready through their probes, one holds the
Lease under its pod name, the webhook registers itself behind the `kaito-webhook` Service and answers the API
server through it, and `make undeploy` takes everything away again (the Workspace first, while the operator
can still remove its finalizer).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from deploy.manifests import NAMESPACE, OPERATOR, REPO, Run, kubectl_runner, render, run_make
from kaito.localcluster.builtins import BuiltinsConfig, ImageRuntime, NodeSpec
from kaito.localcluster.builtins.component import BuiltinControllers
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.localcluster.networking import Networking
from kaito.webhook.settings import WebhookSettings

pytestmark = pytest.mark.slow
OPERATOR_IMAGE = "ghcr.io/kaito-py/kaito"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedLocalCluster]:
    if os.environ.get("KAITO_TEST_KUBECONFIG"):
        pytest.skip("needs the embedded cluster's pod runner to run the operator image as a process")
    data_dir = tmp_path_factory.mktemp("operator-e2e")
    kubeconfig = data_dir / "kubeconfig"
    kaito = str(REPO / ".venv" / "bin" / "kaito")
    # The runner gives each replica its own loopback ports for 8080 and 9443; the process binds those.
    runtime = ImageRuntime(
        entrypoint=[
            kaito,
            "operator",
            "--health-address=127.0.0.1:$(KAITO_LOCAL_PORT_8080)",
            "--webhook-port=$(KAITO_LOCAL_PORT_9443)",
        ],
        env={"KAITO_KUBECONFIG": str(kubeconfig)},
    )
    config = BuiltinsConfig(
        data_dir=data_dir / "builtins",
        nodes=[NodeSpec(name="system-0", cpu="4", memory="16Gi"), NodeSpec(name="system-1", cpu="4")],
        image_commands={OPERATOR_IMAGE: runtime},
        node_heartbeat_s=2.0,
        restart_backoff_base_s=0.5,
        restart_backoff_max_s=5.0,
        probe_time_scale=0.2,
    )
    threaded = ThreadedLocalCluster(
        data_dir, persist=False, components=[BuiltinControllers(config), Networking()]
    )
    threaded.start()
    assert threaded.kubeconfig_path == kubeconfig
    try:
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture(scope="module")
def environment(cluster: ThreadedLocalCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("operator-e2e-home")
    return dict(os.environ, KUBECONFIG=str(cluster.kubeconfig_path), HOME=str(home))


@pytest.fixture(scope="module")
def kubectl(environment: dict[str, str]) -> Run:
    return kubectl_runner(environment, timeout=180)


def _eventually(what: str, probe: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll until `probe()` returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


def _get(kubectl: Run, *args: str) -> dict[str, Any] | None:
    result = kubectl("get", *args, "-o", "json", check=False)
    parsed: dict[str, Any] | None = json.loads(result.stdout) if result.returncode == 0 else None
    return parsed


def _operator_logs(kubectl: Run) -> str:
    result = kubectl(
        "logs", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator", "--tail=40", check=False
    )
    return result.stdout + result.stderr


def test_deployment_runs_and_undeploys(kubectl: Run, environment: dict[str, str]) -> None:
    deployed = run_make(environment, "deploy")
    assert deployed.returncode == 0, deployed.stderr
    try:
        rollout = kubectl(
            "rollout", "status", f"deployment/{OPERATOR}", "-n", NAMESPACE, "--timeout=150s", check=False
        )
        assert rollout.returncode == 0, f"{rollout.stdout}{rollout.stderr}\n{_operator_logs(kubectl)}"
        pods = _get(kubectl, "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator")
        assert pods is not None
        names = {pod["metadata"]["name"] for pod in pods["items"]}
        assert len(names) == 2

        # Leader election: the holder is one replica, named by POD_NAME from the downward API.
        lease = _eventually(
            "the leader Lease",
            lambda: (
                (_get(kubectl, "lease", OPERATOR, "-n", NAMESPACE) or {})
                .get("spec", {})
                .get("holderIdentity")
            ),
        )
        assert lease in names

        # The webhook registered itself behind the Service deploy/ ships, with its own CA.
        settings = WebhookSettings.model_construct()
        validating = _eventually(
            "the validating webhook configuration",
            lambda: _get(kubectl, "validatingwebhookconfiguration", settings.validating_name),
        )
        [hook] = validating["webhooks"]
        service = hook["clientConfig"]["service"]
        assert (service["namespace"], service["name"], service["port"]) == (NAMESPACE, "kaito-webhook", 443)
        assert base64.b64decode(hook["clientConfig"]["caBundle"]).startswith(b"-----BEGIN CERTIFICATE-----")
        assert _get(kubectl, "mutatingwebhookconfiguration", settings.mutating_name) is not None

        # The API server reaches the webhook through that Service: a bad Workspace is denied by it...
        workspace = yaml.safe_load(
            (REPO / "examples" / "inference" / "kaito_workspace_phi_3.yaml").read_text()
        )
        bad = json.loads(json.dumps(workspace))
        bad["metadata"]["name"] = "bad-preset"
        bad["inference"]["preset"]["name"] = "no-such-model"
        denied = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
        assert denied.returncode != 0
        assert 'admission webhook "validation.workspace.kaito.sh" denied the request' in denied.stderr
        assert "inference.preset.name" in denied.stderr
        # ...and a good one is admitted and picked up by the leader's workspace controller (its finalizer).
        kubectl("apply", "-f", "-", input=yaml.safe_dump(workspace))
        _eventually(
            "the workspace controller's finalizer",
            lambda: (
                (_get(kubectl, "workspace", workspace["metadata"]["name"]) or {})
                .get("metadata", {})
                .get("finalizers")
            ),
            timeout=60,
        )
    finally:
        undeployed = run_make(environment, "undeploy", "UNDEPLOY_TIMEOUT=120s")
    assert undeployed.returncode == 0, f"{undeployed.stdout}{undeployed.stderr}"
    for args in (
        ("workspace", workspace["metadata"]["name"]),
        ("namespace", NAMESPACE),
        ("validatingwebhookconfiguration", settings.validating_name),
        ("mutatingwebhookconfiguration", settings.mutating_name),
        ("crd", "workspaces.kaito.sh"),
        ("clusterrole", OPERATOR),
    ):
        assert kubectl("get", *args, check=False).returncode != 0, f"{args} is still there"
    assert {d["kind"] for d in render("default")} >= {"Deployment", "Service", "PodDisruptionBudget"}
