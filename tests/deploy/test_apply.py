"""deploy/default on a real API server with the real kubectl: apply, apply again (no change), delete; and
`make deploy` / `make undeploy` end to end.

These install and remove cluster-wide objects (the CRDs, webhook configurations), so they run on a private
embedded cluster, never the session's shared one. With KAITO_TEST_KUBECONFIG they run against that cluster
only when KAITO_TEST_DEPLOY=1 says it may be changed that way.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from deploy.manifests import (
    NAMESPACE,
    OPERATOR,
    OVERLAYS,
    Manifest,
    Run,
    kubectl_runner,
    render,
    render_text,
    run_make,
)
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.webhook.registration import Registration
from kaito.webhook.settings import WebhookSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deploy_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.environ.get("KAITO_TEST_KUBECONFIG"):
        if os.environ.get("KAITO_TEST_DEPLOY") != "1":
            pytest.skip("installs and deletes kaito's CRDs cluster-wide: set KAITO_TEST_DEPLOY=1 to allow it")
        yield Path(os.environ["KAITO_TEST_KUBECONFIG"])
        return
    with ThreadedLocalCluster(tmp_path_factory.mktemp("deploy-cluster"), persist=False) as threaded:
        yield threaded.kubeconfig_path


@pytest.fixture(scope="module")
def environment(deploy_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("deploy-home")
    return dict(os.environ, KUBECONFIG=str(deploy_kubeconfig), HOME=str(home))


@pytest.fixture(scope="module")
def kubectl(environment: dict[str, str]) -> Run:
    return kubectl_runner(environment, timeout=120)


def _reference(doc: Manifest) -> list[str]:
    """`kubectl get` arguments naming this object exactly (group-qualified kind, namespace)."""
    group = doc["apiVersion"].rpartition("/")[0]
    kind = f"{doc['kind'].lower()}.{group}" if group else doc["kind"].lower()
    namespace = doc["metadata"].get("namespace")
    return [kind, doc["metadata"]["name"], *(["-n", namespace] if namespace else [])]


def _resource_versions(kubectl: Run, docs: list[Manifest]) -> dict[str, str]:
    versions = {}
    for doc in docs:
        got = json.loads(kubectl("get", *_reference(doc), "-o", "json").stdout)
        versions[" ".join(_reference(doc))] = got["metadata"]["resourceVersion"]
    return versions


def _contents(kubectl: Run, docs: list[Manifest]) -> dict[str, Manifest]:
    """Each object as stored, less what every write changes (resourceVersion, managedFields times)."""
    contents = {}
    for doc in docs:
        got = json.loads(kubectl("get", *_reference(doc), "-o", "json", "--show-managed-fields").stdout)
        got["metadata"].pop("resourceVersion")
        for entry in got["metadata"].get("managedFields", []):
            entry.pop("time", None)
        contents[" ".join(_reference(doc))] = got
    return contents


def _wait_gone(kubectl: Run, docs: list[Manifest], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    remaining = docs
    while remaining:
        remaining = [d for d in remaining if kubectl("get", *_reference(d), check=False).returncode == 0]
        if remaining and time.monotonic() > deadline:
            raise AssertionError(f"still present: {[' '.join(_reference(d)) for d in remaining]}")
        if remaining:
            time.sleep(0.2)


def test_default_overlay_applies_idempotently_and_deletes(kubectl: Run) -> None:
    docs = render("default")
    directory = str(OVERLAYS["default"])
    first = kubectl("apply", "-k", directory)
    assert first.stdout.count(" created") == len(docs), first.stdout
    versions = _resource_versions(kubectl, docs)
    second = kubectl("apply", "-k", directory)
    lines = second.stdout.strip().splitlines()
    assert len(lines) == len(docs)
    # A PodDisruptionBudget's selector has patch strategy "replace", so kubectl always sends it and says
    # "configured" (real API servers too); the server must still find nothing to change.
    changed = [line for line in lines if not line.endswith(" unchanged")]
    assert changed == ["poddisruptionbudget.policy/kaito-operator configured"], second.stdout
    assert _resource_versions(kubectl, docs) == versions, "the second apply wrote something"
    # What `make deploy` does: server-side apply, twice, changes nothing the second time.
    server_side = (
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kaito-deploy",
        "-k",
        directory,
    )
    kubectl(*server_side)
    after_first = _contents(kubectl, docs)
    kubectl(*server_side)
    assert _contents(kubectl, docs) == after_first, "the second server-side apply changed something"
    deployment = json.loads(kubectl("get", "deployment", OPERATOR, "-n", NAMESPACE, "-o", "json").stdout)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == OPERATOR
    kubectl("delete", "-k", directory, "--ignore-not-found", "--wait=true", "--timeout=60s")
    _wait_gone(kubectl, docs)


def test_server_side_reapply_writes_nothing(kubectl: Run, deploy_kubeconfig: Path) -> None:
    """A real API server skips a no-op apply (same resourceVersion, managedFields time kept)."""
    docs = render("default")
    server_side = ("apply", "--server-side", "--force-conflicts", "--field-manager=kaito-deploy")
    kubectl(*server_side, "-k", str(OVERLAYS["default"]))
    try:
        versions = _resource_versions(kubectl, docs)
        time.sleep(1.1)  # managedFields times have one-second resolution
        kubectl(*server_side, "-k", str(OVERLAYS["default"]))
        assert _resource_versions(kubectl, docs) == versions
    finally:
        kubectl(
            "delete", "-k", str(OVERLAYS["default"]), "--ignore-not-found", "--wait=true", "--timeout=60s"
        )
        _wait_gone(kubectl, docs)


def _registered_configurations() -> list[Manifest]:
    """The two webhook configurations exactly as the operator registers them (its own code)."""
    defaults = WebhookSettings.model_construct()
    registration: Registration = defaults.registration(defaults.port)
    return [registration.validating(b"ca"), registration.mutating(b"ca")]


def test_make_deploy_and_undeploy(kubectl: Run, environment: dict[str, str]) -> None:
    deployed = run_make(environment, "deploy", "IMG=example.com/kaito/operator:1.2.3")
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(kubectl("get", "deployment", OPERATOR, "-n", NAMESPACE, "-o", "json").stdout)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example.com/kaito/operator:1.2.3"
    # The running operator would now register its webhook configurations; they carry no owner.
    configurations = _registered_configurations()
    kubectl("create", "-f", "-", input=yaml.safe_dump_all(configurations))
    undeployed = run_make(environment, "undeploy")
    assert undeployed.returncode == 0, undeployed.stderr
    _wait_gone(kubectl, [*render("default"), *configurations])


def test_make_deploy_refuses_azure_placeholders(environment: dict[str, str]) -> None:
    if "00000000-0000-0000-0000-000000000000" not in render_text("azure"):
        pytest.skip("deploy/overlays/azure has been configured with real values")
    result = run_make(environment, "deploy", "OVERLAY=azure")
    assert result.returncode != 0
    assert "deploy/overlays/azure/azure.env" in result.stderr


def test_make_deploy_dry_run() -> None:
    result = run_make(dict(os.environ), "-n", "deploy", "IMG=example.com/kaito:1")
    assert result.returncode == 0, result.stderr
    assert "kubectl kustomize deploy/default" in result.stdout
    assert "image: example.com/kaito:1#" in result.stdout
    assert "apply --server-side" in result.stdout
    azure = run_make(dict(os.environ), "-n", "deploy", "IMG=example.com/kaito:1", "OVERLAY=azure")
    assert "kubectl kustomize deploy/overlays/azure" in azure.stdout
    missing = run_make(dict(os.environ), "deploy", "OVERLAY=nonexistent")
    assert missing.returncode != 0
    assert "no overlay deploy/overlays/nonexistent" in missing.stderr
