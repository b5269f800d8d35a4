"""The RBAC mode of the embedded API server: request attributes, rule matching, tokens, 403s, can-i,
and owner-reference permission enforcement, against a LocalCluster(rbac=True) and the real kubectl."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from kaito.localcluster.apiserver.authn import ADMIN, UserInfo, service_account_user
from kaito.localcluster.apiserver.rbac import PolicyRule, RbacAuthorizer, forbidden_status_message
from kaito.localcluster.apiserver.requestinfo import RequestAttributes, request_attributes
from kaito.localcluster.apiserver.storage import Storage
from kaito.localcluster.cluster import ThreadedLocalCluster

KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
NS = "team-a"
SA = "robot"
SA_USER = f"system:serviceaccount:{NS}:{SA}"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KAITO_TEST_KUBECONFIG")), reason="the embedded server's RBAC mode is under test"
)


# ---- request attributes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/a/pods", {}, ("list", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods", {"watch": "1"}, ("watch", "", "pods", "", "a", "")),
        ("GET", "/api/v1/watch/namespaces/a/pods", {}, ("watch", "", "pods", "", "a", "")),
        ("GET", "/api/v1/namespaces/a/pods/p/log", {}, ("get", "", "pods", "log", "a", "p")),
        ("POST", "/api/v1/namespaces/a/pods/p/eviction", {}, ("create", "", "pods", "eviction", "a", "p")),
        ("DELETE", "/api/v1/namespaces/a/pods", {}, ("deletecollection", "", "pods", "", "a", "")),
        ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "", "nodes", "", "", "n1")),
        ("PUT", "/apis/kaito.sh/v1beta1/namespaces/a/workspaces/w/status", {},
         ("update", "kaito.sh", "workspaces", "status", "a", "w")),
        ("PATCH", "/apis/karpenter.sh/v1/nodeclaims/c", {},
         ("patch", "karpenter.sh", "nodeclaims", "", "", "c")),
        ("GET", "/api/v1/namespaces/a", {}, ("get", "", "namespaces", "", "a", "a")),
        ("PUT", "/api/v1/namespaces/a/finalize", {}, ("update", "", "namespaces", "finalize", "a", "a")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/s/leases",
         {"fieldSelector": "metadata.name=lock", "watch": "true"},
         ("watch", "coordination.k8s.io", "leases", "", "s", "lock")),
    ],
)  # fmt: skip
def test_request_attributes_follow_kube_apiserver(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    attrs = request_attributes(method, path, query)
    assert attrs.resource_request
    got = (attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.namespace, attrs.name)
    assert got == expected


@pytest.mark.parametrize("path", ["/api", "/apis", "/apis/kaito.sh", "/apis/kaito.sh/v1beta1", "/version"])
def test_discovery_and_other_paths_are_non_resource_urls(path: str) -> None:
    attrs = request_attributes("GET", path, {})
    assert not attrs.resource_request
    assert (attrs.verb, attrs.path) == ("get", path)


# ---- rules -------------------------------------------------------------------------------------------------
def _attrs(
    verb: str, group: str, resource: str, sub: str = "", ns: str = "a", name: str = ""
) -> RequestAttributes:
    return RequestAttributes(verb, "", True, group, "v1", resource, sub, ns, name)


def test_rules_match_verbs_groups_resources_subresources_and_names() -> None:
    rule = PolicyRule(verbs=["get", "update"], apiGroups=["kaito.sh"], resources=["workspaces/status"])
    assert rule.allows(_attrs("update", "kaito.sh", "workspaces", "status"))
    assert not rule.allows(
        _attrs("update", "kaito.sh", "workspaces")
    )  # the object itself is another resource
    assert not rule.allows(_attrs("patch", "kaito.sh", "workspaces", "status"))
    assert not rule.allows(_attrs("update", "", "workspaces", "status"))

    named = PolicyRule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["cert"])
    assert named.allows(_attrs("get", "", "secrets", name="cert"))
    assert not named.allows(_attrs("get", "", "secrets", name="other"))
    assert not named.allows(_attrs("get", "", "secrets"))  # a list has no name: resourceNames never match

    wild = PolicyRule(verbs=["*"], apiGroups=["*"], resources=["*/scale"])
    assert wild.allows(_attrs("patch", "apps", "deployments", "scale"))
    assert not wild.allows(_attrs("patch", "apps", "deployments"))
    assert PolicyRule(verbs=["*"], apiGroups=["*"], resources=["*"]).allows(_attrs("delete", "x", "y", "z"))

    urls = PolicyRule(verbs=["get"], nonResourceURLs=["/healthz", "/apis/*"])
    assert urls.allows(RequestAttributes("get", "/apis/kaito.sh"))
    assert urls.allows(RequestAttributes("get", "/healthz"))
    assert not urls.allows(RequestAttributes("get", "/healthz/etcd"))
    assert not urls.allows(RequestAttributes("post", "/healthz"))
    assert not urls.allows(_attrs("get", "", "pods"))  # URL rules never grant resources


def _store(storage: Storage, resource: str, name: str, body: dict[str, Any], namespace: str = "") -> None:
    meta = {"name": name, "uid": f"{resource}-{namespace}-{name}"}
    if namespace:
        meta["namespace"] = namespace
    storage.put(("rbac.authorization.k8s.io", resource), {"metadata": meta, **body}, "ADDED")


def test_bindings_match_users_groups_and_service_accounts_in_their_scope() -> None:
    storage = Storage()
    authorizer = RbacAuthorizer(storage)
    read_pods = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    _store(storage, "clusterroles", "read-pods", read_pods)
    _store(storage, "roles", "read-cms", {"rules": [{"apiGroups": [""], "resources": ["configmaps"],
                                                   "verbs": ["get"]}]}, NS)  # fmt: skip
    cluster_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "read-pods"}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cms"}
    # A RoleBinding may grant a ClusterRole's rules, in its own namespace only; a SA subject without a
    # namespace means the binding's.
    _store(storage, "rolebindings", "sa-pods", {"roleRef": cluster_ref,
           "subjects": [{"kind": "ServiceAccount", "name": SA}]}, NS)  # fmt: skip
    _store(storage, "rolebindings", "group-cms", {"roleRef": role_ref,
           "subjects": [{"kind": "Group", "name": "devs"}]}, NS)  # fmt: skip
    _store(storage, "clusterrolebindings", "alice-pods", {"roleRef": cluster_ref,
           "subjects": [{"kind": "User", "name": "alice"}]})  # fmt: skip
    _store(storage, "clusterrolebindings", "broken", {"roleRef": "not an object"})  # grants nothing
    robot, alice = service_account_user(NS, SA), UserInfo("alice", ("system:authenticated",))
    dev = UserInfo("bob", ("devs", "system:authenticated"))

    def may(user: UserInfo, resource: str, ns: str) -> bool:
        return authorizer.authorize(user, _attrs("get", "", resource, ns=ns, name="x")).allowed

    assert may(robot, "pods", NS)
    assert not may(robot, "pods", "default")
    assert not may(service_account_user("other", SA), "pods", NS)
    assert may(alice, "pods", "default")
    assert may(alice, "pods", "")
    assert not may(alice, "configmaps", NS)
    assert may(dev, "configmaps", NS)
    assert not may(dev, "configmaps", "default")
    decision = authorizer.authorize(robot, _attrs("get", "", "pods", ns=NS))
    assert decision.reason == (
        f'RBAC: allowed by RoleBinding "sa-pods" in namespace "{NS}" of ClusterRole "read-pods" to {SA_USER}'
    )
    assert authorizer.authorize(alice, RequestAttributes("get", "/apis/kaito.sh/v1beta1")).allowed
    assert not authorizer.authorize(UserInfo("nobody"), RequestAttributes("get", "/apis")).allowed


def test_forbidden_message_has_kube_apiserver_shape() -> None:
    user = service_account_user(NS, SA)
    namespaced = _attrs("create", "karpenter.sh", "nodeclaims", ns=NS, name="c1")
    assert forbidden_status_message(user, namespaced) == (
        f'nodeclaims.karpenter.sh "c1" is forbidden: User "{SA_USER}" cannot create resource "nodeclaims" '
        f'in API group "karpenter.sh" in the namespace "{NS}"'
    )
    cluster = _attrs("list", "", "nodes", ns="")
    assert forbidden_status_message(user, cluster) == (
        f'nodes is forbidden: User "{SA_USER}" cannot list resource "nodes" in API group "" '
        "at the cluster scope"
    )
    assert forbidden_status_message(user, RequestAttributes("get", "/metrics")) == (
        f'forbidden: User "{SA_USER}" cannot get path "/metrics"'
    )
    assert ADMIN.is_superuser
    assert not user.is_superuser


# ---- against a running cluster -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedLocalCluster]:
    threaded = ThreadedLocalCluster(tmp_path_factory.mktemp("rbac"), persist=False, rbac=True)
    threaded.start()
    yield threaded
    threaded.stop()


async def _client(kubeconfig: Path) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return k8s.ApiClient(configuration=configuration)


@pytest.fixture(scope="module")
async def admin(rbac_cluster: ThreadedLocalCluster) -> AsyncIterator[k8s.ApiClient]:
    api = await _client(rbac_cluster.kubeconfig_path)
    core = _core(api)
    await core.create_namespace({"metadata": {"name": NS}})
    await core.create_namespaced_service_account(NS, {"metadata": {"name": SA}})
    yield api
    await api.close()


@pytest.fixture(scope="module")
def robot_kubeconfig(
    rbac_cluster: ThreadedLocalCluster, admin: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return rbac_cluster.cluster.service_account_kubeconfig(
        NS, SA, tmp_path_factory.mktemp("sa") / "kubeconfig"
    )


@pytest.fixture
async def robot(robot_kubeconfig: Path) -> AsyncIterator[k8s.ApiClient]:
    api = await _client(robot_kubeconfig)
    yield api
    await api.close()


def _kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home))
    return subprocess.run(
        [str(KUBECTL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _core(api: k8s.ApiClient) -> Any:
    return k8s.CoreV1Api(api)  # typed as Any: the tests pass plain dicts as bodies


def _rbac(api: k8s.ApiClient) -> Any:
    return k8s.RbacAuthorizationV1Api(api)


def _coordination(api: k8s.ApiClient) -> Any:
    return k8s.CoordinationV1Api(api)


def _body(error: k8s.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or b"{}")
    return body


async def _grant(api: k8s.ApiClient, name: str, rules: list[dict[str, Any]], cluster: bool = False) -> None:
    rbac = _rbac(api)
    role_ref = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole" if cluster else "Role",
        "name": name,
    }
    subjects = [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]
    if cluster:
        await rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
        await rbac.create_cluster_role_binding(
            {"metadata": {"name": name}, "roleRef": role_ref, "subjects": subjects}
        )
    else:
        await rbac.create_namespaced_role(NS, {"metadata": {"name": name}, "rules": rules})
        await rbac.create_namespaced_role_binding(
            NS, {"metadata": {"name": name}, "roleRef": role_ref, "subjects": subjects}
        )


async def test_tokens_authenticate_only_while_their_service_account_exists(
    rbac_cluster: ThreadedLocalCluster, admin: k8s.ApiClient, tmp_path: Path
) -> None:
    assert rbac_cluster.url.startswith("https://")
    path = rbac_cluster.cluster.service_account_kubeconfig(NS, "ghost", tmp_path / "ghost")
    ghost = await _client(path)
    try:
        with pytest.raises(k8s.ApiException) as unknown:
            await _core(ghost).list_namespaced_pod(NS)
        assert unknown.value.status == 401
        await _core(admin).create_namespaced_service_account(NS, {"metadata": {"name": "ghost"}})
        with pytest.raises(k8s.ApiException) as forbidden:
            await _core(ghost).list_namespaced_pod(NS)
        assert forbidden.value.status == 403  # known now, but granted nothing
    finally:
        await ghost.close()


async def test_denied_requests_get_kubernetes_403_and_are_recorded(
    rbac_cluster: ThreadedLocalCluster, robot: k8s.ApiClient
) -> None:
    log = rbac_cluster.cluster.access_log
    before = len(log.denied(SA_USER))
    with pytest.raises(k8s.ApiException) as denied:
        await _core(robot).read_namespaced_secret("db", NS)
    assert denied.value.status == 403
    status = _body(denied.value)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'secrets "db" is forbidden: User "{SA_USER}" cannot get resource "secrets" in API group "" '
        f'in the namespace "{NS}"'
    )
    assert status["details"] == {"name": "db", "kind": "secrets"}
    recorded = log.denied(SA_USER)[before:]
    assert [(r.attributes.verb, r.attributes.resource, r.attributes.name) for r in recorded] == [
        ("get", "secrets", "db")
    ]
    await k8s.VersionApi(robot).get_code()  # discovery and /version stay open to every authenticated user
    assert not log.denied(SA_USER)[before + 1 :]


async def test_roles_and_cluster_roles_grant_exactly_their_rules(
    rbac_cluster: ThreadedLocalCluster, admin: k8s.ApiClient, robot: k8s.ApiClient
) -> None:
    await _grant(
        admin, "cm-reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    )
    await _grant(
        admin,
        "one-lease",
        [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["lock"],
          "verbs": ["get"]}],
        cluster=True,
    )  # fmt: skip
    core, coordination = _core(robot), _coordination(robot)
    await core.list_namespaced_config_map(NS)
    with pytest.raises(k8s.ApiException) as other_ns:
        await core.list_namespaced_config_map("default")  # a RoleBinding grants only in its namespace
    assert other_ns.value.status == 403
    with pytest.raises(k8s.ApiException) as watch:
        await core.list_namespaced_config_map(NS, watch=True, timeout_seconds=1)
    assert watch.value.status == 403
    assert "cannot watch resource" in _body(watch.value)["message"]
    for ns in (NS, "default"):  # a ClusterRoleBinding grants everywhere, but only the named object
        with pytest.raises(k8s.ApiException) as missing:
            await coordination.read_namespaced_lease("lock", ns)
        assert missing.value.status == 404
        with pytest.raises(k8s.ApiException) as unnamed:
            await coordination.read_namespaced_lease("other", ns)
        assert unnamed.value.status == 403


async def test_kubectl_auth_can_i_and_whoami_tell_the_truth(
    rbac_cluster: ThreadedLocalCluster, admin: k8s.ApiClient, robot_kubeconfig: Path, tmp_path: Path
) -> None:
    await _grant(
        admin,
        "pod-lister",
        [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["list", "get"]}],
    )
    asks = {
        ("list", "pods"): "yes",
        ("get", "pods/log"): "yes",
        ("delete", "pods"): "no",
        ("create", "nodeclaims.karpenter.sh"): "no",
    }
    for (verb, resource), answer in asks.items():
        result = await asyncio.to_thread(
            _kubectl, robot_kubeconfig, tmp_path, "auth", "can-i", verb, resource, "-n", NS
        )
        assert result.stdout.strip() == answer, (verb, resource, result.stdout, result.stderr)
        assert result.returncode == (0 if answer == "yes" else 1)
    admin_says = await asyncio.to_thread(
        _kubectl, rbac_cluster.kubeconfig_path, tmp_path, "auth", "can-i", "delete", "nodes"
    )
    assert admin_says.stdout.strip() == "yes"
    whoami = await asyncio.to_thread(_kubectl, robot_kubeconfig, tmp_path, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == SA_USER
    assert f"system:serviceaccounts:{NS}" in info["groups"]


async def test_block_owner_deletion_needs_update_on_the_owners_finalizers(
    rbac_cluster: ThreadedLocalCluster, admin: k8s.ApiClient, robot: k8s.ApiClient
) -> None:
    owner = await _core(admin).create_namespaced_config_map(NS, {"metadata": {"name": "owner"}})
    await _grant(
        admin,
        "cm-writer",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "update", "get"]}],
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid,
           "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    core = _core(robot)
    with pytest.raises(k8s.ApiException) as denied:
        await core.create_namespaced_config_map(NS, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    assert denied.value.status == 403
    assert _body(denied.value)["message"] == (
        'configmaps "child" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a '
        f'resource you can\'t set finalizers on: User "{SA_USER}" cannot update resource '
        f'"configmaps/finalizers" in API group "" in the namespace "{NS}"'
    )
    unblocked = {**ref, "blockOwnerDeletion": False}
    child = await core.create_namespaced_config_map(
        NS, {"metadata": {"name": "child", "ownerReferences": [unblocked]}}
    )
    child.metadata.owner_references[0].block_owner_deletion = True
    with pytest.raises(k8s.ApiException) as no_delete:  # changing references needs delete on the object too
        await core.replace_namespaced_config_map("child", NS, child)
    assert "cannot set an ownerRef on a resource you can't delete" in _body(no_delete.value)["message"]

    await _grant(
        admin,
        "cm-owner",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["delete"]},
         {"apiGroups": [""], "resources": ["configmaps/finalizers"], "resourceNames": ["owner"],
          "verbs": ["update"]}],
    )  # fmt: skip
    await core.replace_namespaced_config_map("child", NS, child)
    await core.create_namespaced_config_map(NS, {"metadata": {"name": "child2", "ownerReferences": [ref]}})
