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

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deploy.rbac_stack import (
    CERT_SECRET,
    KUBECTL,
    KUSTOMIZATIONS,
    NAMESPACE,
    OPERATOR_USER,
    REPO,
    Operator,
    Stack,
    condition_status,
    describe,
    eventually,
    holder,
    leading,
    open_stack,
    registered,
)
from kaito.controllers import resource as kinds
from kaito.controllers.client import JSON
from kaito.localcluster.apiserver.rbac import AccessRecord
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES
from kaito.webhook.registration import VALIDATING_CONFIGURATIONS


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path_factory.mktemp("rbac-coverage")) as built:
        yield built


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
    await eventually(lambda: leading(stack, run), "operator-1 to take the Lease", explain=wait)
    await eventually(lambda: registered(stack), "the webhook configurations", explain=wait)
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
        return ws if condition_status(ws, type_) == "True" else None

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
    return Lifecycle(denials, exit_code, await holder(stack), ready, tuned, set(cert.get("data") or {}))


def test_the_operator_runs_a_whole_lifecycle_without_a_denial(lifecycle: Lifecycle) -> None:
    assert [describe(r) for r in lifecycle.denials] == []
    for type_ in ("ResourceReady", "InferenceReady", "WorkspaceReady"):
        assert condition_status(lifecycle.inference, type_) == "True", type_
    assert condition_status(lifecycle.tuning, "JobStarted") == "True"
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
    await eventually(lambda: leading(stack, run), "operator-2 to take the released Lease", explain=wait)
    await eventually(lambda: registered(stack, old_at), "operator-2's webhook registration", explain=wait)
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
    assert {describe(r) for r in reduced.new_denials} == {"create nodeclaims.karpenter.sh name=-"}
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
