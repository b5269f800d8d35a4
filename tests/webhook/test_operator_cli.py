"""`kaito operator`: its help, its flag errors, and a real process against a private embedded cluster that
serves /healthz, admits through its webhook, reconciles, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kaito.cli.main import main
from kaito.localcluster.cluster import ThreadedLocalCluster
from validation.manifests import REPO, changed, inference

KAITO = Path(sys.executable).parent / "kaito"
KUBECTL = REPO / ".venv" / "bin" / "kubectl"


def test_help_lists_flags_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["operator", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    expected = ["--controllers", "--no-webhook", "--no-leader-elect", "--kubeconfig", "--webhook-cert-dir"]
    expected += ["--provider", "KAITO_WEBHOOK_PORT", "KAITO_PROVISIONER_PROVIDER", "AZURE_SUBSCRIPTION_ID"]
    for words in expected:
        assert words in text, words


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--controllers=workspace,nodes"], "unknown controller(s) nodes"),
        (["--controllers=provisioner", "--provider=azure"], "the azure provider needs AZURE_SUBSCRIPTION_ID"),
        (["--webhook-namespace-selector", "{oops"], "kaito operator:"),
    ],
    ids=["unknown-controller", "azure-without-cluster", "bad-selector-json"],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_CLUSTER_NAME",
        "KAITO_PROVISIONER_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    assert main(["operator", *argv]) == 2
    assert words in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(probe: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (httpx.HTTPError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedLocalCluster]:
    """A cluster of its own, so this operator reconciles nothing that belongs to other tests."""
    cluster = ThreadedLocalCluster(tmp_path_factory.mktemp("operator-cluster"), persist=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_operator_process_serves_admits_reconciles_and_stops(
    private_cluster: ThreadedLocalCluster, tmp_path: Path
) -> None:
    kubeconfig = private_cluster.kubeconfig_path
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}

    def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args], env=env, input=input, capture_output=True, text=True, timeout=60
        )
        if check and result.returncode:
            raise AssertionError(f"kubectl {args} failed: {result.stderr}")
        return result

    for crd in sorted((REPO / "config" / "crd").glob("*_*.yaml")):
        kubectl("apply", "-f", str(crd))
    health_port, webhook_port = _free_port(), _free_port()
    log_path = tmp_path / "operator.log"
    argv = [
        str(KAITO), "operator", "--kubeconfig", str(kubeconfig), "--no-leader-elect",
        "--controllers=workspace,provisioner", "--provider=local", "--local-node-delay-s=0",
        "--health-address", f"127.0.0.1:{health_port}", "--webhook-port", str(webhook_port),
        "--webhook-host", "127.0.0.1", "--webhook-url-host", "127.0.0.1",
        "--webhook-service-namespace", "default", "--shutdown-timeout", "5",
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(
            lambda: httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=2).text == "ok",
            90,
            "/healthz",
        )
        assert httpx.get(f"https://127.0.0.1:{webhook_port}/healthz", verify=False, timeout=5).text == "ok"

        bad = changed(inference(), "resource.instanceType", "Standard_NC6s_v9")
        denied = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
        assert "resource.instanceType: unknown GPU instance type 'Standard_NC6s_v9'" in denied.stderr

        kubectl("apply", "-f", "-", input=yaml.safe_dump(inference()))
        name = inference()["metadata"]["name"]

        def reconciled() -> bool:
            obj = json.loads(kubectl("get", "workspace", name, "-o", "json").stdout)
            return bool((obj.get("status") or {}).get("conditions"))

        _wait(reconciled, 60, "the workspace controller to report status")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        print(log_path.read_text()[-5000:])


def _poster(url: str, body: dict[str, Any]) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(url, json=body, verify=False, timeout=5)


def _start(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("w") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


@pytest.mark.slow
def test_webhook_serves_on_every_replica_not_only_the_leader(
    private_cluster: ThreadedLocalCluster, tmp_path: Path
) -> None:
    kubeconfig = private_cluster.kubeconfig_path
    env = {**os.environ, "HOME": str(tmp_path)}
    replicas: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for identity in ("replica-a", "replica-b"):
            webhook_port = _free_port()
            argv = [
                str(KAITO), "operator", "--kubeconfig", str(kubeconfig), "--leader-elect",
                "--identity", identity, "--lease-namespace", "default", "--lease-name", "kaito-replicas-test",
                "--controllers=workspace", "--health-address", f"127.0.0.1:{_free_port()}",
                "--webhook-host", "127.0.0.1", "--webhook-port", str(webhook_port),
                "--webhook-url-host", "127.0.0.1", "--webhook-service-namespace", "default",
                "--webhook-secret-name", "replicas-cert", "--shutdown-timeout", "5",
                "--webhook-namespace-selector", '{"matchLabels": {"no-such-label": "x"}}',
            ]  # fmt: skip
            replicas.append((_start(argv, env, tmp_path / f"{identity}.log"), webhook_port))
        body = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "operation": "CREATE",
                "object": changed(inference(), "metadata.name", "X"),
            },
        }
        for _, port in replicas:
            reply = _wait(_poster(f"https://127.0.0.1:{port}/validate-workspace", body), 90, "the webhook")
            assert reply.json()["response"]["allowed"] is False
        lease = _wait(
            lambda: private_cluster.storage.get(
                ("coordination.k8s.io", "leases"), "default", "kaito-replicas-test"
            ),
            60,
            "a leader",
        )
        assert lease["spec"]["holderIdentity"] in ("replica-a", "replica-b")
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=60) for process, _ in replicas] == [0, 0]
    finally:
        for process, _ in replicas:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in sorted(tmp_path.glob("*.log")):
            print(log.name, log.read_text()[-3000:])
