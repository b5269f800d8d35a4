"""The RBAC coverage test's harness: an embedded cluster with RBAC on and `kaito operator` run as its
ServiceAccount (tests/deploy/test_rbac_coverage.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.controllers import resource as kinds
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.errors import NotFoundError
from kaito.localcluster.apiserver.rbac import AccessRecord
from kaito.localcluster.builtins import BuiltinControllers, BuiltinsConfig, ImageRuntime
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.reconcilers.names import WORKSPACES
from kaito.webhook.registration import MUTATING_CONFIGURATIONS, VALIDATING_CONFIGURATIONS

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
RBAC = REPO / "deploy" / "base" / "rbac"
KUSTOMIZATIONS = (RBAC, RBAC / "provisioner", RBAC / "local-provider")
NAMESPACE = "kaito-system"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:kaito-operator"
LEASE = "kaito-operator"
CERT_SECRET = "kaito-webhook-cert"
TUNE_OK = "local/tune-ok"


# ---- the cluster -------------------------------------------------------------------------------------------
async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 40.0, *, explain: Callable[[], str]
) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}\n{explain()}")
        await asyncio.sleep(0.1)


def tune_ok_script(directory: Path) -> str:
    script = directory / "kaito-ok"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return str(script)


@dataclass
class Stack:
    threaded: ThreadedLocalCluster
    kube: KubeClient  # the admin's
    data_dir: Path
    runs: list[Operator] = field(default_factory=list)

    @property
    def log(self) -> Any:
        return self.threaded.cluster.access_log

    def denials(self) -> list[AccessRecord]:
        return list(self.log.denied(OPERATOR_USER))

    def explain(self) -> str:
        denied = "\n".join(f"  DENIED {describe(r)}" for r in self.denials()) or "  (no denials)"
        logs = "\n".join(run.log_tail() for run in self.runs)
        return f"denials of {OPERATOR_USER}:\n{denied}\n{logs}"

    async def apply_kustomization(self, directory: Path) -> None:
        env = dict(os.environ, KUBECONFIG=str(self.threaded.kubeconfig_path), HOME=str(self.data_dir))
        argv = [str(KUBECTL), "apply", "-k", str(directory)]
        result = await asyncio.to_thread(
            subprocess.run, argv, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr

    async def workspace(self, namespace: str, name: str) -> JSON | None:
        try:
            return await self.kube.get(WORKSPACES, name, namespace)
        except NotFoundError:
            return None


def describe(record: AccessRecord) -> str:
    a = record.attributes
    where = f" ns={a.namespace}" if a.namespace else ""
    return f"{a.verb} {a.qualified_resource}.{a.api_group or 'core'} name={a.name or '-'}{where}"


@contextlib.asynccontextmanager
async def open_stack(data_dir: Path) -> AsyncIterator[Stack]:
    """A private embedded cluster with RBAC on, the CRDs, and the rbac/ kustomizations applied as admin."""
    builtins = BuiltinControllers(
        BuiltinsConfig(
            data_dir=data_dir,
            image_commands={TUNE_OK: ImageRuntime(executables={"kaito": tune_ok_script(data_dir)})},
            simulated_ready_delay_s=0.05,
            node_heartbeat_s=5.0,
            restart_backoff_base_s=0.2,
            restart_backoff_max_s=1.0,
            probe_time_scale=0.2,
        )
    )
    threaded = ThreadedLocalCluster(
        data_dir, persist=False, bookmark_interval=2.0, rbac=True, components=[builtins]
    )
    await asyncio.to_thread(threaded.start)
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(
        config_file=str(threaded.kubeconfig_path), client_configuration=configuration
    )
    api = k8s.ApiClient(configuration=configuration)
    built = Stack(threaded, KubeClient(api), data_dir)
    try:
        await built.kube.create(kinds.NAMESPACES, {"metadata": {"name": NAMESPACE}})
        for path in sorted((REPO / "config" / "crd").glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    await built.kube.create(kinds.CRDS, doc)
        for directory in KUSTOMIZATIONS:  # as the admin, the way a user installs them
            await built.apply_kustomization(directory)
        yield built
    finally:
        for run in built.runs:
            await run.stop()
        await api.close()
        await asyncio.to_thread(threaded.stop)


# ---- the operator ------------------------------------------------------------------------------------------
@dataclass
class Operator:
    """`kaito operator` as a child process, authenticated as the kaito-operator ServiceAccount."""

    identity: str
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    @classmethod
    async def start(cls, stack: Stack, identity: str, **env: str) -> Operator:
        kubeconfig = stack.threaded.cluster.service_account_kubeconfig(
            NAMESPACE, "kaito-operator", stack.data_dir / f"{identity}.kubeconfig"
        )
        run = cls(identity, stack.data_dir / f"{identity}.log")
        argv = [
            sys.executable, "-m", "kaito.cli", "operator",
            "--controllers=workspace,provisioner", "--provider=local", "--leader-elect",
            f"--kubeconfig={kubeconfig}", f"--identity={identity}", "--health-address=127.0.0.1:0",
            "--webhook-host=127.0.0.1", "--webhook-port=0", "--webhook-url-host=127.0.0.1",
            "--allow-private-urls", f"--tuning-image={TUNE_OK}", "--shutdown-timeout=5", "--log-format=json",
        ]  # fmt: skip
        environment = {
            **os.environ,
            "KAITO_RETRY_PERIOD": "0.5",
            "KAITO_PROVISIONER_LOCAL_NODE_DELAY_S": "0.05",
            "KAITO_PROVISIONER_NODE_POLL_INTERVAL_S": "1",
            **env,
        }
        with run.log_path.open("ab") as log:
            run.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=environment
            )
        stack.runs.append(run)
        return run

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- operator {self.identity} log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> int | None:
        """SIGTERM: the operator drains and releases its Lease; its exit code."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise


async def holder(stack: Stack) -> str | None:
    try:
        lease = await stack.kube.get(kinds.LEASES, LEASE, NAMESPACE)
    except NotFoundError:
        return None
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


async def leading(stack: Stack, run: Operator) -> bool:
    if run.process is not None and run.process.returncode is not None:
        raise AssertionError(f"the operator exited with {run.process.returncode}\n{stack.explain()}")
    return await holder(stack) == run.identity


async def registered(stack: Stack, not_at: str = "") -> bool:
    """Both webhook configurations exist (and no longer point at `not_at`, a host:port)."""
    try:
        hooks = [
            await stack.kube.get(resource, name)
            for resource, name in (
                (VALIDATING_CONFIGURATIONS, "kaito-workspace-validation"),
                (MUTATING_CONFIGURATIONS, "kaito-workspace-defaulting"),
            )
        ]
    except NotFoundError:
        return False
    urls = [hook["webhooks"][0]["clientConfig"]["url"] for hook in hooks]
    return all(not not_at or f"//{not_at}/" not in url for url in urls)


def condition_status(ws: JSON | None, type_: str) -> str | None:
    for item in ((ws or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return str(item.get("status"))
    return None
