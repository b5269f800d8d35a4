"""The local pod runner: real processes for mapped images, probes, env and volumes, restarts, deletion."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s

from kaito.localcluster.builtins import BuiltinControllers, NodeSpec, port_annotation
from kaito.localcluster.cluster import ThreadedLocalCluster
from localcluster.conftest import GPU_TAINT, BuiltinsCluster, builtins_config, new_api_client


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": list(containers), **spec},
    }


async def _pod_when(cluster: BuiltinsCluster, ns: str, name: str, check: Any) -> Any:
    async def probe() -> Any:
        got = await cluster.core.read_namespaced_pod(name, ns)
        return got if check(got) else None

    return probe


def _ready(got: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in got.status.conditions or [])


def _pid(got: Any) -> int:
    container_id: str = got.status.container_statuses[0].container_id
    assert container_id.startswith("local://")
    return int(container_id.removeprefix("local://"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_http_server_pod_ready_via_probe_and_reachable(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
    container = {
        "name": "web",
        "image": "local/http:latest",
        "readinessProbe": probe,
        "ports": [{"name": "http", "containerPort": 8000}],
    }
    await cluster.core.create_namespaced_pod(ns, pod("web", container))
    got = await cluster.eventually(await _pod_when(cluster, ns, "web", _ready), "web pod Ready", within=60)
    assert got.status.phase == "Running"
    assert got.status.pod_ip == "127.0.0.1"
    host_port = int(got.metadata.annotations[port_annotation(8000)])
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{host_port}/") as response:
        assert response.status == 200
    log_dir = Path(got.metadata.annotations["localcluster.kaito.sh/log-dir"])
    log = await cluster.core.read_namespaced_pod_log("web", ns, container="web")
    assert "GET / HTTP" in log
    assert (log_dir / "web" / "0.log").exists()
    status = got.status.container_statuses[0]
    assert status.started is True
    assert status.state.running is not None

    async def events() -> set[str]:
        listed = await cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=web")
        reasons = {event.reason for event in listed.items}
        return reasons if {"Scheduled", "Pulled", "Created", "Started"} <= reasons else set()

    await cluster.eventually(events, "pod events recorded")


async def test_env_volumes_and_init_containers(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    config = {"metadata": {"name": "cfg"}, "data": {"mode": "fast", "model.yaml": "size: tiny\n"}}
    await cluster.core.create_namespaced_config_map(ns, config)
    secret = {"metadata": {"name": "tok"}, "data": {"HF_TOKEN": base64.b64encode(b"hf_x").decode()}}
    await cluster.core.create_namespaced_secret(ns, secret)
    init = {
        "name": "prepare",
        "image": "local/python",
        "args": ["-c", "import sys; open(sys.argv[1], 'w').write('prepared')", "/work/ready.txt"],
        "volumeMounts": [{"name": "scratch", "mountPath": "/work"}],
    }
    script = "; ".join(
        [
            "import os, sys",
            "print('mode', os.environ['MODE'], 'token', os.environ['HF_TOKEN'])",
            "print('me', os.environ['POD_NAME'], os.environ['POD_NAMESPACE'], os.environ['GREETING'])",
            "print('model', open(sys.argv[1]).read().strip())",
            "print('init', open(os.path.join(os.environ['SCRATCH'], 'ready.txt')).read())",
            "open(sys.argv[2].removeprefix('--out='), 'w').write('saved')",
        ]
    )
    main = {
        "name": "main",
        "image": "local/python",
        "command": ["python", "-c", script, "/etc/model/model.yaml", "--out=/cache/result.txt"],
        "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "GREETING", "value": "hello-$(POD_NAME)"},
            {"name": "SCRATCH", "value": "/work"},
        ],
        "envFrom": [{"secretRef": {"name": "tok"}}],
        "volumeMounts": [
            {"name": "model", "mountPath": "/etc/model"},
            {"name": "scratch", "mountPath": "/work"},
            {"name": "cache", "mountPath": "/cache"},
        ],
    }
    volumes = [
        {"name": "model", "configMap": {"name": "cfg"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "cache", "persistentVolumeClaim": {"claimName": "model-cache"}},
    ]
    await cluster.core.create_namespaced_pod(
        ns, pod("env", main, initContainers=[init], volumes=volumes, restartPolicy="Never")
    )
    finished = await _pod_when(cluster, ns, "env", lambda p: p.status.phase in ("Succeeded", "Failed"))
    got = await cluster.eventually(finished, "pod finished")
    log = await cluster.core.read_namespaced_pod_log("env", ns, container="main")
    init_log = await cluster.core.read_namespaced_pod_log("env", ns, container="prepare")
    assert got.status.phase == "Succeeded", (log, init_log)
    assert f"mode fast token hf_x\nme env {ns} hello-env\nmodel size: tiny\ninit prepared\n" == log
    assert (cluster.data_dir / "claims" / ns / "model-cache" / "result.txt").read_text() == "saved"
    assert got.status.init_container_statuses[0].state.terminated.reason == "Completed"
    conditions = {c.type: c for c in got.status.conditions}
    assert conditions["Initialized"].status == "True"
    assert (conditions["Ready"].status, conditions["Ready"].reason) == ("False", "PodCompleted")


async def test_crash_loop_back_off_and_restart_count(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    container = {
        "name": "crash",
        "image": "local/python",
        "args": ["-c", "import sys; print('boom'); sys.exit(3)"],
    }
    await cluster.core.create_namespaced_pod(ns, pod("crash", container))

    def backing_off(got: Any) -> bool:
        statuses = got.status.container_statuses or []
        if not statuses or statuses[0].restart_count < 2:
            return False
        waiting = statuses[0].state.waiting
        return waiting is not None and waiting.reason == "CrashLoopBackOff"

    got = await cluster.eventually(await _pod_when(cluster, ns, "crash", backing_off), "CrashLoopBackOff")
    status = got.status.container_statuses[0]
    assert status.last_state.terminated.exit_code == 3
    assert status.last_state.terminated.reason == "Error"
    assert got.status.phase == "Running"
    assert "boom" in await cluster.core.read_namespaced_pod_log("crash", ns, previous=True)


async def test_unpullable_image_backs_off(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.core.create_namespaced_pod(
        ns, pod("nope", {"name": "c", "image": "registry.invalid/missing:1"})
    )

    def pull_back_off(got: Any) -> bool:
        statuses = got.status.container_statuses or []
        return (
            bool(statuses)
            and statuses[0].state.waiting is not None
            and (statuses[0].state.waiting.reason == "ImagePullBackOff")
        )

    got = await cluster.eventually(await _pod_when(cluster, ns, "nope", pull_back_off), "ImagePullBackOff")
    assert got.status.phase == "Pending"
    assert "registry.invalid/missing:1" in got.status.container_statuses[0].state.waiting.message


async def test_deleting_a_pod_kills_its_process(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    # the child ignores SIGTERM's default by sleeping in a grandchild: the whole process group must go
    grandchild = "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])"
    script = f"import subprocess, sys, time; {grandchild}; time.sleep(600)"
    container = {"name": "sleep", "image": "local/python", "args": ["-c", script]}
    await cluster.core.create_namespaced_pod(ns, pod("sleeper", container, terminationGracePeriodSeconds=2))
    got = await cluster.eventually(await _pod_when(cluster, ns, "sleeper", _ready), "sleeper running")
    pid = _pid(got)
    assert _alive(pid)
    await cluster.core.delete_namespaced_pod("sleeper", ns)

    async def process_gone() -> bool:
        return not _alive(pid)

    await cluster.eventually(process_gone, "process killed", within=15)

    async def group_gone() -> bool:
        return not await asyncio.to_thread(_group_members, pid)

    await cluster.eventually(group_gone, "the grandchild killed too", within=15)


def _group_members(pgid: int) -> list[Path]:
    """Live (not zombie) processes of a process group."""
    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and _live_pgid(p) == pgid]


def _live_pgid(proc: Path) -> int | None:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[2])


async def test_gpu_pods_need_toleration_and_wait_for_capacity(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    gpu_container = {
        "name": "llm",
        "image": "example.com/llm:1",
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    toleration = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    await cluster.core.create_namespaced_pod(ns, pod("untolerated", gpu_container))
    await cluster.core.create_namespaced_pod(ns, pod("gpu-a", gpu_container, tolerations=[toleration]))
    got = await cluster.eventually(await _pod_when(cluster, ns, "gpu-a", _ready), "gpu-a running")
    assert got.spec.node_name == "gpu-a100-0"

    def unschedulable(got: Any) -> bool:
        return any(
            c.type == "PodScheduled" and c.reason == "Unschedulable" for c in got.status.conditions or []
        )

    got = await cluster.eventually(
        await _pod_when(cluster, ns, "untolerated", unschedulable), "unschedulable"
    )
    message = next(c.message for c in got.status.conditions if c.type == "PodScheduled")
    assert message.startswith("0/")

    async def failed_scheduling_event() -> bool:
        warnings = await cluster.core.list_namespaced_event(ns, field_selector="reason=FailedScheduling")
        return any(event.message == message and event.type == "Warning" for event in warnings.items)

    await cluster.eventually(failed_scheduling_event, "a FailedScheduling event")
    assert "1 node(s) had untolerated taint {sku: gpu}" in message
    assert "Insufficient nvidia.com/gpu" in message

    await cluster.core.create_namespaced_pod(ns, pod("gpu-b", gpu_container, tolerations=[toleration]))
    got = await cluster.eventually(await _pod_when(cluster, ns, "gpu-b", unschedulable), "gpu-b waits")
    assert "Insufficient nvidia.com/gpu" in next(
        c.message for c in got.status.conditions if c.type == "PodScheduled"
    )
    extra = NodeSpec(
        name="gpu-extra-0",
        instance_type="Standard_NC6s_v3",
        gpu_count=1,
        gpu_product="Tesla-V100",
        gpu_memory_mib=16160,
        taints=[GPU_TAINT],
    )
    await cluster.add_node(extra)
    try:
        got = await cluster.eventually(await _pod_when(cluster, ns, "gpu-b", _ready), "gpu-b on the new node")
        assert got.spec.node_name == "gpu-extra-0"
        scheduled = next(c for c in got.status.conditions if c.type == "PodScheduled")
        assert (scheduled.status, scheduled.reason) == ("True", None)
        node = await cluster.core.read_node("gpu-extra-0")
        assert node.status.allocatable["nvidia.com/gpu"] == "1"
        assert node.metadata.labels["nvidia.com/gpu.product"] == "Tesla-V100"
    finally:
        await cluster.core.delete_namespaced_pod("gpu-a", ns)
        await cluster.core.delete_namespaced_pod("untolerated", ns)
        await cluster.remove_node("gpu-extra-0")

    async def gone_with_its_node() -> bool:
        names = [p.metadata.name for p in (await cluster.core.list_namespaced_pod(ns)).items]
        return "gpu-b" not in names

    await cluster.eventually(gone_with_its_node, "the removed node's pod deleted")


async def test_startup_exec_readiness_tcp_and_failing_liveness(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    port = [{"containerPort": 8000}]
    healthy = {
        "name": "web",
        "image": "local/http",
        "ports": port,
        "startupProbe": {
            "exec": {"command": ["python", "-c", "import sys; sys.exit(0)"]},
            "periodSeconds": 1,
        },
        "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
    }
    await cluster.core.create_namespaced_pod(ns, pod("healthy", healthy))
    liveness = {"httpGet": {"path": "/missing", "port": 8000}, "periodSeconds": 1, "failureThreshold": 2}
    sick = {"name": "web", "image": "local/http", "ports": port, "livenessProbe": liveness}
    await cluster.core.create_namespaced_pod(ns, pod("sick", sick, terminationGracePeriodSeconds=1))
    got = await cluster.eventually(await _pod_when(cluster, ns, "healthy", _ready), "healthy pod Ready")
    assert got.status.container_statuses[0].started is True

    def restarted(got: Any) -> bool:
        statuses = got.status.container_statuses or []
        return (
            bool(statuses)
            and statuses[0].restart_count >= 1
            and statuses[0].last_state.terminated is not None
        )

    got = await cluster.eventually(await _pod_when(cluster, ns, "sick", restarted), "liveness restart")
    assert got.status.container_statuses[0].last_state.terminated.exit_code == 143  # SIGTERM
    healthy_now = await cluster.core.read_namespaced_pod("healthy", ns)
    assert healthy_now.status.container_statuses[0].restart_count == 0
    assert _ready(healthy_now)


async def test_nodes_registered_by_others_are_adopted(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    labels = {"localcluster.kaito.sh/managed": "true", "nvidia.com/gpu.count": "2", "kaito.sh/workspace": "w"}
    await cluster.core.create_node(
        {
            "metadata": {"name": "provisioned-0", "labels": labels},
            "spec": {
                "providerID": "kaito-local://provisioned-0",
                "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            },
        }
    )
    try:

        async def adopted() -> Any:
            node = await cluster.core.read_node("provisioned-0")
            conditions = (node.status.conditions if node.status else None) or []
            ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
            return node if ready else None

        node = await cluster.eventually(adopted, "externally created node Ready")
        assert node.status.allocatable["nvidia.com/gpu"] == "2"
        assert node.spec.provider_id == "kaito-local://provisioned-0"
        lease = await k8s.CoordinationV1Api(cluster.api).read_namespaced_lease(
            "provisioned-0", "kube-node-lease"
        )
        assert lease.spec.holder_identity == "provisioned-0"
    finally:
        await cluster.core.delete_node("provisioned-0")


async def test_deleting_a_pod_held_by_a_finalizer(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    container = {"name": "sleep", "image": "local/python", "args": ["-c", "import time; time.sleep(600)"]}
    body = pod("held", container, terminationGracePeriodSeconds=1)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await cluster.core.create_namespaced_pod(ns, body)
    pid = _pid(await cluster.eventually(await _pod_when(cluster, ns, "held", _ready), "held pod running"))
    await cluster.core.delete_namespaced_pod("held", ns)

    def stopped(got: Any) -> bool:
        state = got.status.container_statuses[0].state
        return got.metadata.deletion_timestamp is not None and state.terminated is not None

    got = await cluster.eventually(
        await _pod_when(cluster, ns, "held", stopped), "container stopped, pod kept"
    )
    assert got.status.container_statuses[0].state.terminated.exit_code in (137, 143)  # SIGKILL or SIGTERM
    assert not _alive(pid)
    await cluster.core.patch_namespaced_pod("held", ns, {"metadata": {"finalizers": None}})

    async def gone() -> bool:
        return not (await cluster.core.list_namespaced_pod(ns)).items

    await cluster.eventually(gone, "pod removed once the finalizer is gone")


async def test_stopping_the_cluster_leaves_no_process(tmp_path: Path) -> None:
    config = builtins_config(tmp_path)
    builtins = BuiltinControllers(config)
    threaded = ThreadedLocalCluster(tmp_path, persist=False, components=[builtins])
    await asyncio.to_thread(threaded.start)
    api = await new_api_client(threaded.kubeconfig_path)
    try:
        cluster = BuiltinsCluster(threaded, builtins, api, tmp_path)
        container = {"name": "sleep", "image": "local/python", "args": ["-c", "import time; time.sleep(600)"]}
        await cluster.core.create_namespaced_pod("default", pod("sleeper", container))
        got = await cluster.eventually(
            await _pod_when(cluster, "default", "sleeper", _ready), "sleeper running"
        )
        pid = _pid(got)
    finally:
        await api.close()
        await asyncio.to_thread(threaded.stop)
    assert not _alive(pid)
    assert not await asyncio.to_thread(_group_members, pid)


async def test_termination_messages_from_the_file_or_the_log_tail(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    writes = {
        "name": "writes",
        "image": "local/python",
        "args": ["-c", WRITE_MESSAGE, "/dev/termination-log"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    silent = {
        "name": "silent",
        "image": "local/python",
        "args": ["-c", "import sys; print('last words'); sys.exit(4)"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    await cluster.core.create_namespaced_pod(ns, pod("messages", writes, silent, restartPolicy="Never"))

    def both_done(got: Any) -> bool:
        statuses = got.status.container_statuses or []
        return len(statuses) == 2 and all(s.state.terminated is not None for s in statuses)

    got = await cluster.eventually(
        await _pod_when(cluster, ns, "messages", both_done), "both containers exit"
    )
    terminated = {s.name: s.state.terminated for s in got.status.container_statuses}
    assert (terminated["writes"].exit_code, terminated["writes"].message) == (
        21,
        "ModelAccessDenied: no token",
    )
    assert (terminated["silent"].exit_code, terminated["silent"].message) == (4, "last words")


WRITE_MESSAGE = "import sys; open(sys.argv[1], 'w').write('ModelAccessDenied: no token'); sys.exit(21)"
