"""deploy/base/rbac is exactly what the operator needs: `kaito operator` runs as the kaito-operator
ServiceAccount, under those rules only, against the embedded API server with RBAC on.

Run 1 (the rules as shipped) drives a whole lifecycle: webhook certificate Secret and registration, leader
Lease acquire/renew/release, an inference Workspace on a provisioned simulated GPU node, an adapters edit, a
user-config edit that rolls the StatefulSet, a tuning Workspace to success, and deletion of both: it must
finish without a single denial. Run 2 drops `create` on nodeclaims and must be denied exactly that (the
test can fail). Every (group, resource, verb) the roles grant must have been used by the two runs, or be
listed in NEVER_EXERCISED / SOMETIMES_EXERCISED with the reason a lifecycle may not reach it, so no unused
privilege sneaks in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.controllers import resource as kinds
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.errors import NotFoundError
from kaito.localcluster.apiserver.rbac import AccessRecord
from kaito.localcluster.builtins import BuiltinControllers, BuiltinsConfig, ImageRuntime
from kaito.localcluster.cluster import ThreadedLocalCluster
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES
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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("KAITO_TEST_KUBECONFIG")), reason="needs the embedded API server's RBAC mode"
    ),
]

# Granted and needed, but never reached by a lifecycle on a healthy cluster; each entry says why it exists.
# An entry the runs do use fails the test (the list must not go stale).
NEVER_EXERCISED: dict[tuple[str, str, str], str] = {
    ("", "nodes/status", "update"): "local.py reports node status through /status only when an API server "
    "drops status on create (kube-apiserver keeps it for Nodes, and so does the embedded one)",
}
# Granted and needed on paths a run reaches only sometimes: KubeClient.mutate re-reads an object after a
# write conflict, children.py after AlreadyExists, i.e. when an informer cache lags behind the server.
SOMETIMES_EXERCISED: dict[tuple[str, str, str], str] = {
    ("kaito.sh", "workspaces", "get"): "reconciler.py/ownership.py: re-read after a conflict",
    ("karpenter.sh", "nodeclaims", "get"): "provisioner/reconciler.py: re-read after a conflict",
    ("", "services", "get"): "children.py: re-read after AlreadyExists or a conflict",
    ("apps", "statefulsets", "get"): "children.py: re-read after AlreadyExists or a conflict",
    ("batch", "jobs", "get"): "children.py: re-read after AlreadyExists (the Job is never updated)",
    ("", "pods/log", "get"): "weights_progress.py: only while a weights download runs; the simulated pods "
    "here have no weights init container (tests/reconcilers/test_weights_progress.py reads it for real)",
}


@dataclass(frozen=True)
class Grant:
    """One (apiGroup, resource, verb) of one rule, with the rule's resourceNames and the role's namespace."""

    role: str
    group: str
    resource: str
    verb: str
    names: tuple[str, ...]
    namespace: str

    def used_by(self, record: AccessRecord) -> bool:
        attrs = record.attributes
        return (
            attrs.api_group == self.group
            and attrs.qualified_resource == self.resource
            and attrs.verb == self.verb
            and (not self.names or attrs.name in self.names)
            and (not self.namespace or attrs.namespace == self.namespace)
        )


def _rendered(directory: Path) -> list[JSON]:
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]


def grants() -> list[Grant]:
    found = []
    for directory in KUSTOMIZATIONS:
        for doc in _rendered(directory):
            if doc["kind"] not in ("ClusterRole", "Role"):
                continue
            role = f"{doc['kind']}/{doc['metadata']['name']}"
            for rule in doc.get("rules") or []:
                for group in rule.get("apiGroups") or []:
                    for resource in rule.get("resources") or []:
                        for verb in rule["verbs"]:
                            names = tuple(rule.get("resourceNames") or ())
                            ns = doc["metadata"].get("namespace", "")
                            found.append(Grant(role, group, resource, verb, names, ns))
    return found


def test_no_rule_uses_a_wildcard_or_a_name_its_verb_ignores() -> None:
    for grant in grants():
        assert "*" not in (grant.group, grant.resource, grant.verb, *grant.names), grant
        if grant.names:  # create, list, watch and deletecollection requests carry no name
            assert grant.verb in ("get", "update", "patch", "delete"), grant


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


def _tune_ok(directory: Path) -> str:
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
        denied = "\n".join(f"  DENIED {_describe(r)}" for r in self.denials()) or "  (no denials)"
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


def _describe(record: AccessRecord) -> str:
    a = record.attributes
    where = f" ns={a.namespace}" if a.namespace else ""
    return f"{a.verb} {a.qualified_resource}.{a.api_group or 'core'} name={a.name or '-'}{where}"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("rbac-coverage")
    builtins = BuiltinControllers(
        BuiltinsConfig(
            data_dir=data_dir,
            image_commands={TUNE_OK: ImageRuntime(executables={"kaito": _tune_ok(data_dir)})},
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


async def _holder(stack: Stack) -> str | None:
    try:
        lease = await stack.kube.get(kinds.LEASES, LEASE, NAMESPACE)
    except NotFoundError:
        return None
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


async def _leading(stack: Stack, run: Operator) -> bool:
    if run.process is not None and run.process.returncode is not None:
        raise AssertionError(f"the operator exited with {run.process.returncode}\n{stack.explain()}")
    return await _holder(stack) == run.identity


async def _registered(stack: Stack, not_at: str = "") -> bool:
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


def _condition(ws: JSON | None, type_: str) -> str | None:
    for item in ((ws or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return str(item.get("status"))
    return None


async def _user_config(stack: Stack, namespace: str, name: str, max_num_seqs: int) -> None:
    text = f"vllm:\n  max-num-seqs: {max_num_seqs}\n"
    body = {"metadata": {"name": name, "namespace": namespace}, "data": {"inference_config.yaml": text}}
    await stack.kube.create(kinds.CONFIGMAPS, body)


def _example(path: str, namespace: str, label: str) -> JSON:
    doc: JSON = yaml.safe_load((REPO / "examples" / path).read_text())
    doc["metadata"]["namespace"] = namespace
    doc["resource"]["labelSelector"]["matchLabels"] = {"apps": label}
    return doc


# ---- run 1: the rules as shipped ---------------------------------------------------------------------------
ADAPTER = "myregistry.azurecr.io/adapters/phi-3-adapter:0.0.1"


@dataclass
class Lifecycle:
    denials: list[AccessRecord]
    exit_code: int | None
    holder_after_stop: str | None
    inference: JSON
    tuning: JSON
    cert_keys: set[str]


async def _gone(stack: Stack, namespace: str, names: list[str]) -> bool:
    for name in names:
        if await stack.workspace(namespace, name) is not None:
            return False
    claims = await stack.kube.list(NODECLAIMS, label_selector=f"kaito.sh/workspacenamespace={namespace}")
    nodes = await stack.kube.list(kinds.NODES, label_selector=f"kaito.sh/workspacenamespace={namespace}")
    return not claims.get("items") and not nodes.get("items")


@pytest.fixture(scope="module")
async def lifecycle(stack: Stack) -> Lifecycle:
    run = await Operator.start(stack, "operator-1")
    wait = stack.explain
    await eventually(lambda: _leading(stack, run), "operator-1 to take the Lease", explain=wait)
    await eventually(lambda: _registered(stack), "the webhook configurations", explain=wait)
    cert = await stack.kube.get(kinds.SECRETS, CERT_SECRET, NAMESPACE)
    ns = f"rbac-{uuid.uuid4().hex[:6]}"
    await stack.kube.create(kinds.NAMESPACES, {"metadata": {"name": ns}})
    await stack.kube.create(
        kinds.SECRETS,
        {"metadata": {"name": "myregistry-push-secret", "namespace": ns},
         "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}},
    )  # fmt: skip
    inference = _example("inference/kaito_workspace_phi_3_with_adapters.yaml", ns, "phi-rbac")
    tuning = _example("tuning/kaito_workspace_tuning_phi_3.yaml", ns, "tune-rbac")
    names = [inference["metadata"]["name"], tuning["metadata"]["name"]]
    for doc in (inference, tuning):  # admitted by operator-1's webhook
        await stack.kube.create(WORKSPACES, doc)

    async def condition(name: str, type_: str) -> JSON | None:
        ws = await stack.workspace(ns, name)
        return ws if _condition(ws, type_) == "True" else None

    ready = await eventually(lambda: condition(names[0], "WorkspaceReady"), "inference ready", explain=wait)
    tuned = await eventually(lambda: condition(names[1], "WorkspaceSucceeded"), "tuning done", explain=wait)

    # An adapter-only edit (the adapters ConfigMap is updated), then a user config (the StatefulSet rolls).
    adapters = [{"source": {"name": "phi-3-adapter", "image": ADAPTER}, "strength": "0.5"}]
    await stack.kube.patch(WORKSPACES, names[0], {"inference": {"adapters": adapters}}, namespace=ns)

    async def adapters_updated() -> bool:
        cm = await stack.kube.get(kinds.CONFIGMAPS, f"{names[0]}-adapters", ns)
        return "0.5" in cm["data"]["adapters.yaml"]

    await eventually(adapters_updated, "the adapters ConfigMap to follow the edit", explain=wait)
    sts = await stack.kube.get(kinds.STATEFULSETS, names[0], ns)
    await _user_config(stack, ns, "tuned", 64)
    await stack.kube.patch(WORKSPACES, names[0], {"inference": {"config": "tuned"}}, namespace=ns)

    async def rolled() -> bool:
        current = await stack.kube.get(kinds.STATEFULSETS, names[0], ns)
        return bool(current["metadata"]["generation"] > sts["metadata"]["generation"])

    await eventually(rolled, "the StatefulSet to roll after the config edit", explain=wait)
    # Another config and a LoadBalancer: the StatefulSet rolls again (its second StatefulSetUpdated Event
    # within the dedup window is a patch) and the Service is updated in place.
    sts = await stack.kube.get(kinds.STATEFULSETS, names[0], ns)
    await _user_config(stack, ns, "tuned-2", 32)
    edit = {"metadata": {"annotations": {"kaito.sh/enablelb": "True"}}, "inference": {"config": "tuned-2"}}
    await stack.kube.patch(WORKSPACES, names[0], edit, namespace=ns)

    async def load_balanced() -> bool:
        service = await stack.kube.get(kinds.SERVICES, names[0], ns)
        return bool(service["spec"]["type"] == "LoadBalancer") and await rolled()

    await eventually(load_balanced, "a LoadBalancer Service and another roll", explain=wait)
    await eventually(lambda: condition(names[0], "WorkspaceReady"), "ready after the rolls", explain=wait)

    for name in names:
        await stack.kube.delete(WORKSPACES, name, ns)
    await eventually(lambda: _gone(stack, ns, names), "Workspaces, NodeClaims, Nodes gone", explain=wait)
    denials = stack.denials()
    exit_code = await run.stop()
    return Lifecycle(denials, exit_code, await _holder(stack), ready, tuned, set(cert.get("data") or {}))


def test_the_operator_runs_a_whole_lifecycle_without_a_denial(lifecycle: Lifecycle) -> None:
    assert [_describe(r) for r in lifecycle.denials] == []
    for type_ in ("ResourceReady", "InferenceReady", "WorkspaceReady"):
        assert _condition(lifecycle.inference, type_) == "True", type_
    assert _condition(lifecycle.tuning, "JobStarted") == "True"
    assert {"ca.crt", "ca.key", "tls.crt", "tls.key"} <= lifecycle.cert_keys
    assert lifecycle.exit_code == 0
    assert lifecycle.holder_after_stop == "", "SIGTERM releases the Lease (an update the Role must allow)"


# ---- run 2: one rule less ----------------------------------------------------------------------------------
CLUSTER_ROLES = kinds.Resource(
    "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False
)


@dataclass
class Reduced:
    new_denials: list[AccessRecord]
    claims: list[JSON]
    exit_code: int | None
    operator_log: str


@pytest.fixture(scope="module")
async def reduced(stack: Stack, lifecycle: Lifecycle) -> Reduced:
    role = await stack.kube.get(CLUSTER_ROLES, "kaito-operator")
    for rule in role["rules"]:
        if "nodeclaims" in rule["resources"]:
            rule["verbs"].remove("create")
    await stack.kube.update(CLUSTER_ROLES, role)
    denied_before = len(stack.denials())
    old = await stack.kube.get(VALIDATING_CONFIGURATIONS, "kaito-workspace-validation")
    old_at = old["webhooks"][0]["clientConfig"]["url"].split("/")[2]
    # Renewing at once makes this replica update the existing certificate Secret.
    run = await Operator.start(stack, "operator-2", KAITO_WEBHOOK_RENEW_BEFORE_DAYS="400")
    wait = stack.explain
    await eventually(lambda: _leading(stack, run), "operator-2 to take the released Lease", explain=wait)
    await eventually(lambda: _registered(stack, old_at), "operator-2's webhook registration", explain=wait)
    ns = f"rbac-{uuid.uuid4().hex[:6]}"
    await stack.kube.create(kinds.NAMESPACES, {"metadata": {"name": ns}})
    doc = _example("inference/kaito_workspace_phi_3.yaml", ns, "phi-denied")
    await stack.kube.create(WORKSPACES, doc)

    async def denied() -> list[AccessRecord]:
        return [r for r in stack.denials()[denied_before:] if r.attributes.resource == "nodeclaims"]

    await eventually(denied, "the NodeClaim create to be denied", explain=wait)
    claims = (await stack.kube.list(NODECLAIMS, label_selector=f"kaito.sh/workspacenamespace={ns}"))["items"]
    new_denials = stack.denials()[denied_before:]
    exit_code = await run.stop()
    return Reduced(new_denials, claims, exit_code, run.log_path.read_text(errors="replace"))


def test_a_missing_rule_shows_up_as_a_denial(reduced: Reduced) -> None:
    assert reduced.new_denials, "no denial recorded: the coverage test could not fail"
    assert {_describe(r) for r in reduced.new_denials} == {"create nodeclaims.karpenter.sh name=-"}
    assert reduced.claims == []
    assert reduced.exit_code == 0
    # The operator saw kube-apiserver's 403 message (its reconcile error names what is missing).
    assert (
        f'User \\"{OPERATOR_USER}\\" cannot create resource \\"nodeclaims\\" in API group \\"karpenter.sh\\" '
        "at the cluster scope" in reduced.operator_log
    )


# ---- every privilege used ----------------------------------------------------------------------------------
def test_every_granted_privilege_was_used_or_is_explained(
    stack: Stack, lifecycle: Lifecycle, reduced: Reduced
) -> None:
    used = stack.log.allowed(OPERATOR_USER)
    granted = grants()
    keys = {(g.group, g.resource, g.verb) for g in granted}
    unused = [g for g in granted if not any(g.used_by(r) for r in used)]
    explained = {**NEVER_EXERCISED, **SOMETIMES_EXERCISED}
    unexplained = [
        f"{g.role}: {g.verb} {g.resource}.{g.group or 'core'}"
        for g in unused
        if (g.group, g.resource, g.verb) not in explained
    ]
    assert unexplained == [], "granted but never used: remove the rule, or say why in NEVER_EXERCISED"
    assert set(explained) <= keys, "an explanation for a privilege that is not granted"
    stale = set(NEVER_EXERCISED) - {(g.group, g.resource, g.verb) for g in unused}
    assert stale == set(), "NEVER_EXERCISED lists privileges the runs used"
