"""``kubectl create <kind>`` sends protobuf bodies: each decodes to exactly kubectl's own client-side JSON."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kaito.localcluster.apiserver import protobuf
from kaito.localcluster.apiserver.errors import ApiError
from kaito.localcluster.cluster import ThreadedLocalCluster
from localcluster.conftest import BuiltinsCluster

from .crds import Kubectl

KUBECTL = Path(sys.executable).with_name("kubectl")


@dataclass(frozen=True)
class Case:
    """One ``kubectl create`` invocation: its arguments, the resource to read back, and its name."""

    resource: str
    name: str
    args: tuple[str, ...]
    command: tuple[str, ...] = ()  # after ``--``
    namespaced: bool = True


CASES = [
    Case(
        "deployment",
        "web",
        ("deployment", "web", "--image=nginx", "--replicas=2", "--port=80"),
        ("sleep", "9"),
    ),
    Case("deployment", "zero", ("deployment", "zero", "--image=nginx", "--replicas=0")),
    Case("deployment", "two", ("deployment", "two", "--image=nginx", "--image=busybox:1.36")),
    Case("job", "once", ("job", "once", "--image=busybox"), ("echo", "hi")),
    Case("service", "cip", ("service", "clusterip", "cip", "--tcp=80:8080", "--tcp=443:https")),
    Case("service", "headless", ("service", "clusterip", "headless", "--clusterip=None")),
    Case("service", "np", ("service", "nodeport", "np", "--tcp=80:8080")),
    Case("service", "lb", ("service", "loadbalancer", "lb", "--tcp=80:8080")),
    Case("service", "ext", ("service", "externalname", "ext", "--external-name=example.com")),
    Case("serviceaccount", "bot", ("serviceaccount", "bot")),
    Case(
        "role",
        "reader",
        ("role", "reader", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=a"),
    ),
    Case("rolebinding", "rb", ("rolebinding", "rb", "--role=reader", "--user=alice", "--group=devs")),
    Case("pdb", "min", ("pdb", "min", "--selector=app=web", "--min-available=1")),
    Case("pdb", "max", ("pdb", "max", "--selector=app=web,tier in (a,b)", "--max-unavailable=50%")),
    Case("secret", "tls-less", ("secret", "generic", "tls-less", "--from-literal=k=v", "--type=custom/x")),
    Case("configmap", "cfg", ("configmap", "cfg", "--from-literal=k=v", "--from-literal=e=")),
]
CLUSTER_CASES = [
    Case("clusterrole", "pb-agg", ("clusterrole", "pb-agg", "--aggregation-rule=pb=yes"), namespaced=False),
    Case(
        "clusterrole",
        "pb-urls",
        ("clusterrole", "pb-urls", "--verb=get", "--non-resource-url=/healthz", "--resource=nodes"),
        namespaced=False,
    ),
    Case(
        "clusterrolebinding",
        "pb-crb",
        ("clusterrolebinding", "pb-crb", "--clusterrole=pb-urls", "--user=bob", "--serviceaccount=a:b"),
        namespaced=False,
    ),
]


def _client_json(obj: Any) -> Any:
    """kubectl's dry-run JSON without what only the server sets (status) and Go's null for empty lists."""
    if isinstance(obj, dict):
        return {k: _client_json(v) for k, v in obj.items() if v is not None and k != "status"}
    if isinstance(obj, list):
        return [_client_json(v) for v in obj]
    return obj


def _missing(expected: Any, stored: Any, path: str = "") -> list[str]:
    """Where ``stored`` lacks or contradicts ``expected`` (server defaults may add fields, never change)."""
    if isinstance(expected, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        return [m for k, v in expected.items() for m in _missing(v, stored.get(k), f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(stored, list) or len(stored) != len(expected):
            return [path]
        return [
            m
            for i, (e, s) in enumerate(zip(expected, stored, strict=True))
            for m in _missing(e, s, f"{path}[{i}]")
        ]
    return [] if expected == stored else [f"{path}: {expected!r} != {stored!r}"]


def _round_trip(
    case: Case,
    kubectl: Kubectl,
    namespace: str,
    embedded: ThreadedLocalCluster | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scope = ("-n", namespace) if case.namespaced else ()
    tail = ("--", *case.command) if case.command else ()
    dry = kubectl("create", *case.args, *scope, "--dry-run=client", "-o", "json", *tail)
    expected = _client_json(json.loads(dry.stdout))
    decoded: list[dict[str, Any]] = []
    real_decode = protobuf.decode

    def recording_decode(body: bytes) -> dict[str, Any]:
        obj = real_decode(body)
        decoded.append(copy.deepcopy(obj))
        return obj

    if embedded is not None:  # the server runs in this process: watch what it decodes
        monkeypatch.setattr(protobuf, "decode", recording_decode)
    kubectl("create", *case.args, *scope, *tail)
    if embedded is not None:
        assert decoded == [expected]
    stored = json.loads(kubectl("get", case.resource, case.name, *scope, "-o", "json").stdout)
    assert not _missing(expected, stored), _missing(expected, stored)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.resource}-{c.name}" for c in CASES])
def test_kubectl_create_decodes_like_client_dry_run(
    case: Case,
    kubectl: Kubectl,
    namespace: str,
    embedded_cluster: ThreadedLocalCluster | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case.resource == "rolebinding":
        kubectl("create", "role", "reader", "-n", namespace, "--verb=get", "--resource=pods")
    _round_trip(case, kubectl, namespace, embedded_cluster, monkeypatch)


def test_kubectl_create_cluster_scoped_rbac(
    kubectl: Kubectl,
    namespace: str,
    embedded_cluster: ThreadedLocalCluster | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        for case in CLUSTER_CASES:
            _round_trip(case, kubectl, namespace, embedded_cluster, monkeypatch)
    finally:
        for case in CLUSTER_CASES:
            kubectl("delete", case.resource, case.name, "--ignore-not-found", check=False)


def _wire_key(number: int, wire: int) -> bytes:
    return _uvarint(number << 3 | wire)


def _uvarint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _wire_key(number, 2) + _uvarint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _wire_key(number, 0) + _uvarint(value)


def _deployment_body(spec: bytes) -> bytes:
    type_meta = _delimited(1, b"apps/v1") + _delimited(2, b"Deployment")
    raw = _delimited(1, _delimited(1, b"d")) + _delimited(2, spec)
    return protobuf.MAGIC + _delimited(1, type_meta) + _delimited(2, raw)


def test_unknown_fields_refuse_when_set_and_pass_when_zero() -> None:
    zero_unknown = (
        _varint_field(1, -1) + _varint_field(99, 0) + _delimited(98, b"") + _delimited(97, b"\x08\x00")
    )
    decoded = protobuf.decode(_deployment_body(zero_unknown))
    assert decoded == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": -1},
    }
    with pytest.raises(ApiError) as refused:
        protobuf.decode(_deployment_body(_varint_field(1, 3) + _varint_field(99, 1)))
    assert refused.value.code == 415
    assert "field 99 of DeploymentSpec" in str(refused.value.message)
    assert "application/json" in str(refused.value.message)
    with pytest.raises(ApiError) as truncated:
        protobuf.decode(_deployment_body(_delimited(3, b"\x12\x05ab")))
    assert truncated.value.code == 400


def test_kind_without_a_table_is_refused() -> None:
    type_meta = _delimited(1, b"apps/v1") + _delimited(2, b"StatefulSet")
    with pytest.raises(ApiError) as refused:
        protobuf.decode(protobuf.MAGIC + _delimited(1, type_meta) + _delimited(2, b""))
    assert refused.value.code == 415


async def test_created_deployment_and_job_run(builtins_cluster: BuiltinsCluster) -> None:
    """The decoded objects drive the built-in controllers: pods come up, the job's command really runs."""
    cluster = builtins_cluster
    ns = await cluster.namespace()
    env = dict(os.environ, KUBECONFIG=str(cluster.threaded.kubeconfig_path), HOME=str(cluster.data_dir))

    def kubectl(*args: str) -> None:
        result = subprocess.run([str(KUBECTL), *args], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr

    await asyncio.to_thread(kubectl, "create", "deployment", "web", "-n", ns, "--image=nginx", "--replicas=2")
    await asyncio.to_thread(
        kubectl,
        "create",
        "job",
        "hello",
        "-n",
        ns,
        "--image=local/python",
        "--",
        "python",
        "-c",
        "print(6 * 7)",
    )

    async def deployment_ready() -> bool:
        got = await cluster.apps.read_namespaced_deployment("web", ns)
        return bool(got.status.ready_replicas == 2)

    async def job_succeeded() -> bool:
        got = await cluster.batch.read_namespaced_job("hello", ns)
        return bool(got.status.succeeded == 1)

    await cluster.eventually(deployment_ready, "deployment web with 2 ready replicas", within=60)
    await cluster.eventually(job_succeeded, "job hello succeeded", within=60)
    pods = (await cluster.core.list_namespaced_pod(ns, label_selector="job-name=hello")).items
    log = await cluster.core.read_namespaced_pod_log(pods[0].metadata.name, ns)
    assert log.strip() == "42"
