"""deploy/ agrees with the operator's code: ports, probes, Service names, env vars, images, selectors."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from deploy.dockerfile import parse
from deploy.manifests import (
    NAMESPACE,
    OPERATOR,
    OVERLAYS,
    REPO,
    Manifest,
    find,
    operator_container,
    operator_environment,
    render,
)
from kaito.cli import operator as operator_cli
from kaito.cli.main import build_parser
from kaito.controllers.settings import ManagerSettings
from kaito.provisioner.settings import ProvisionerSettings, settings_from_args
from kaito.reconcilers.settings import DEFAULT_INFERENCE_IMAGE, DEFAULT_TUNING_IMAGE, WorkspaceSettings
from kaito.webhook.settings import WebhookSettings

SETTINGS: list[type[BaseSettings]] = [
    ManagerSettings,
    WorkspaceSettings,
    ProvisionerSettings,
    WebhookSettings,
]


def _default(settings: type[BaseSettings], name: str) -> Any:
    return settings.model_fields[name].get_default(call_default_factory=True)


def _environment_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable a pydantic-settings class reads (prefix + field name, or its aliases)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c.upper() for c in alias.choices if isinstance(c, str) and c != name)
        elif isinstance(alias, str):
            names.add(alias.upper())
        names.add(f"{prefix}{name}".upper())
    return names


def _port(container: Manifest, name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    number: int = ports[name]
    return number


def _operator_args(docs: list[Manifest]) -> argparse.Namespace:
    container = operator_container(docs)
    assert "command" not in container, "the image's ENTRYPOINT (kaito operator) must stay"
    return build_parser().parse_args(["operator", *container.get("args", [])])


@pytest.fixture(scope="module")
def default_docs() -> list[Manifest]:
    return render("default")


def test_health_port_and_probes_match_the_manager(default_docs: list[Manifest]) -> None:
    container = operator_container(default_docs)
    bind = str(_default(ManagerSettings, "bind_address"))
    assert _port(container, "metrics") == int(bind.rpartition(":")[2])
    assert bind.startswith("0.0.0.0:"), "probes reach the pod IP, not loopback"
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe


async def test_probe_paths_answer_on_the_health_server() -> None:
    """The paths the probes and the ServiceMonitor use exist on the manager's HealthServer."""
    import aiohttp

    from kaito.controllers.health import HealthServer

    server = HealthServer("127.0.0.1:0", ready=lambda: True)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/healthz", "/readyz", "/metrics"):
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as response:
                    assert response.status == 200, path
    finally:
        await server.stop()


def test_webhook_service_matches_the_webhook_settings(default_docs: list[Manifest]) -> None:
    service = find(default_docs, "Service", str(_default(WebhookSettings, "service_name")))
    assert service["metadata"]["namespace"] == _default(WebhookSettings, "service_namespace") == NAMESPACE
    [port] = service["spec"]["ports"]
    assert port["port"] == _default(WebhookSettings, "service_port")
    container = operator_container(default_docs)
    assert port["targetPort"] == "webhook"
    assert _port(container, "webhook") == _default(WebhookSettings, "port")


def test_services_and_budget_select_the_operator_pods(default_docs: list[Manifest]) -> None:
    deployment = find(default_docs, "Deployment", OPERATOR)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind, name in (("Service", "kaito-webhook"), ("Service", "kaito-operator-metrics")):
        assert find(default_docs, kind, name)["spec"]["selector"].items() <= labels.items()
    budget = find(default_docs, "PodDisruptionBudget", OPERATOR)
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    spec = deployment["spec"]["template"]["spec"]
    for term in spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]:
        assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_env_var_is_read_by_the_operator(overlay: str) -> None:
    known = set().union(*(_environment_names(s) for s in SETTINGS))
    assert {"POD_NAME", "POD_NAMESPACE", "KAITO_INFERENCE_IMAGE", "AZURE_SUBSCRIPTION_ID"} <= known
    environment = operator_environment(render(overlay))
    unknown = set(environment) - known
    assert not unknown, f"{overlay}: the operator reads none of {sorted(unknown)}"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_operator_accepts_the_rendered_configuration(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Deployment's args and env build the operator's settings exactly as `kaito operator` would."""
    docs = render(overlay)
    for name in [n for n in os.environ if n.startswith(("KAITO_", "AZURE_", "POD_"))]:
        monkeypatch.delenv(name)
    for name, value in operator_environment(docs).items():
        monkeypatch.setenv(name, value if value is not None else f"from-{name.lower()}")
    args = _operator_args(docs)
    controllers = operator_cli.parse_controllers(args.controllers)
    manager = operator_cli.manager_settings(args)
    webhook = operator_cli.webhook_settings(args)
    assert manager.leader_elect
    assert manager.identity == "from-pod_name"
    assert manager.lease_namespace == "from-kaito_lease_namespace"  # the pod's namespace, by fieldRef
    assert webhook.service_namespace == "from-pod_namespace"
    assert webhook.register_configs
    assert WorkspaceSettings().inference_image == DEFAULT_INFERENCE_IMAGE
    assert WorkspaceSettings().tuning_image == DEFAULT_TUNING_IMAGE
    if overlay in ("azure", "local"):
        assert controllers == ["workspace", "provisioner"]
        provisioner = settings_from_args(args)
        assert provisioner.provider == overlay
        if overlay == "azure":
            assert provisioner.azure_subscription_id
            assert provisioner.azure_cluster_name
        assert webhook.allow_private_urls == (overlay == "local")
    else:
        assert controllers == ["workspace"]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_controllers_run_have_their_roles_bound(overlay: str) -> None:
    """deploy/base/rbac/ splits the operator's rights by controller: each overlay binds what it runs."""
    docs = render(overlay)
    args = _operator_args(docs)
    bound = {
        d["roleRef"]["name"]
        for d in docs
        if d["kind"] == "ClusterRoleBinding"
        and {"kind": "ServiceAccount", "name": OPERATOR, "namespace": NAMESPACE} in d["subjects"]
    }
    expected = {OPERATOR}
    if "provisioner" in operator_cli.parse_controllers(args.controllers):
        expected.add("kaito-provisioner")
        if operator_environment(docs).get("KAITO_PROVISIONER_PROVIDER") == "local":
            expected.add("kaito-local-provider")
    assert bound == expected
    roles = {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"}
    assert bound <= roles


def test_downward_api_fields(default_docs: list[Manifest]) -> None:
    env = {v["name"]: v for v in operator_container(default_docs)["env"]}
    for name, path in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == path


def test_operator_pod_is_locked_down(default_docs: list[Manifest]) -> None:
    deployment = find(default_docs, "Deployment", OPERATOR)
    assert deployment["spec"]["replicas"] == 2
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == OPERATOR
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    image_user = parse(REPO / "docker" / "operator.Dockerfile").final.last("USER")
    assert image_user is not None
    assert str(pod["runAsUser"]) == image_user.value.split(":")[0]
    container = operator_container(default_docs)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    # The webhook keeps its serving certificate in a temporary directory: /tmp must be writable.
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > _default(ManagerSettings, "shutdown_timeout")


def test_service_account_is_rendered_beside_the_deployment(default_docs: list[Manifest]) -> None:
    account = find(default_docs, "ServiceAccount", OPERATOR)
    assert account["metadata"]["namespace"] == NAMESPACE
    namespaced = [d for d in default_docs if d["kind"] not in {"Namespace", "CustomResourceDefinition"}]
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for doc in namespaced:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"


def test_images_match_the_operator_defaults(default_docs: list[Manifest]) -> None:
    environment = operator_environment(default_docs)
    assert environment["KAITO_INFERENCE_IMAGE"] == DEFAULT_INFERENCE_IMAGE
    assert environment["KAITO_TUNING_IMAGE"] == DEFAULT_TUNING_IMAGE
    makefile = (REPO / "Makefile").read_text()
    default_img = re.search(r"^IMG \?= (\S+)$", makefile, re.M)
    base_img = re.search(r"^DEPLOY_BASE_IMG := (\S+)$", makefile, re.M)
    assert default_img is not None
    assert base_img is not None
    assert operator_container(default_docs)["image"] == base_img.group(1) == default_img.group(1)


def test_azure_overlay_wires_workload_identity() -> None:
    docs = render("azure")
    account = find(docs, "ServiceAccount", OPERATOR)
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    pod_labels = find(docs, "Deployment", OPERATOR)["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["azure.workload.identity/use"] == "true"
    environment = operator_environment(docs)
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_CLUSTER_NAME", "AZURE_LOCATION"):
        assert environment[name], name
    assert environment["KAITO_PROVISIONER_PROVIDER"] == "azure"


def test_undeploy_removes_the_configurations_the_operator_registers() -> None:
    """The webhook configurations carry no owner; `make undeploy` must delete them by the names used."""
    makefile = (REPO / "Makefile").read_text()
    undeploy = makefile[makefile.index("\nundeploy:") :].split("\n\n")[0]
    assert f"validatingwebhookconfiguration {_default(WebhookSettings, 'validating_name')}" in undeploy
    assert f"mutatingwebhookconfiguration {_default(WebhookSettings, 'mutating_name')}" in undeploy


def test_dockerfiles_exist_for_the_default_images() -> None:
    for name in ("operator", "serve", "tune"):
        assert Path(REPO / "docker" / f"{name}.Dockerfile").is_file()
