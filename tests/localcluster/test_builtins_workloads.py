"""Deployment -> ReplicaSet -> Pods, StatefulSets and Jobs driven by the built-in controllers end to end."""

from __future__ import annotations

from typing import Any

from localcluster.conftest import BuiltinsCluster


def deployment(name: str, replicas: int, image: str = "example.com/app:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def test_deployment_pods_become_ready(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.apps.create_namespaced_deployment(ns, deployment("web", 2))

    async def ready() -> Any:
        got = await cluster.apps.read_namespaced_deployment("web", ns)
        return got if got.status.ready_replicas == 2 and got.status.available_replicas == 2 else None

    deploy = await cluster.eventually(ready, "2 ready replicas")
    conditions = {c.type: c for c in deploy.status.conditions}
    assert conditions["Available"].status == "True"
    assert conditions["Available"].reason == "MinimumReplicasAvailable"
    assert conditions["Progressing"].reason == "NewReplicaSetAvailable"
    assert deploy.status.observed_generation == deploy.metadata.generation
    assert deploy.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    replicasets = (await cluster.apps.list_namespaced_replica_set(ns)).items
    assert len(replicasets) == 1
    rs = replicasets[0]
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.owner_references[0].controller is True
    pods = (await cluster.core.list_namespaced_pod(ns)).items
    assert len(pods) == 2

    async def scaled_event() -> bool:
        events = await cluster.core.list_namespaced_event(ns, field_selector="reason=ScalingReplicaSet")
        return any(e.message == f"Scaled up replica set {rs.metadata.name} to 2" for e in events.items)

    await cluster.eventually(scaled_event, "a ScalingReplicaSet event")
    for pod in pods:
        assert pod.metadata.name.startswith(f"web-{pod_hash}-")
        owner = pod.metadata.owner_references[0]
        assert (owner.kind, owner.name) == ("ReplicaSet", rs.metadata.name)
        assert owner.controller is True
        assert owner.block_owner_deletion is True
        assert pod.spec.node_name == "cpu-0"  # the GPU node's taint keeps plain pods off it
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions} == {
            "PodScheduled": "True",
            "Initialized": "True",
            "ContainersReady": "True",
            "Ready": "True",
        }
        state = pod.status.container_statuses[0]
        assert state.ready
        assert state.state.running is not None


async def _pods(cluster: BuiltinsCluster, ns: str, selector: str) -> list[Any]:
    pods = (await cluster.core.list_namespaced_pod(ns, label_selector=selector)).items
    return [pod for pod in pods if pod.metadata.deletion_timestamp is None]


async def test_deployment_scales_and_rolls_a_new_template(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.apps.create_namespaced_deployment(ns, deployment("api", 1))

    async def settled(replicas: int, image: str) -> Any:
        got = await cluster.apps.read_namespaced_deployment("api", ns)
        status = got.status
        pods = await _pods(cluster, ns, "app=api")
        done = (
            status.observed_generation == got.metadata.generation
            and status.replicas == replicas
            and status.updated_replicas == replicas
            and status.available_replicas == replicas
            and len(pods) == replicas
            and all(pod.spec.containers[0].image == image for pod in pods)
        )
        return got if done else None

    await cluster.eventually(lambda: settled(1, "example.com/app:1"), "1 replica")
    await cluster.apps.patch_namespaced_deployment_scale("api", ns, {"spec": {"replicas": 3}})
    await cluster.eventually(lambda: settled(3, "example.com/app:1"), "scaled up to 3")
    await cluster.apps.patch_namespaced_deployment_scale("api", ns, {"spec": {"replicas": 2}})
    await cluster.eventually(lambda: settled(2, "example.com/app:1"), "scaled down to 2")

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example.com/app:2"}]}}}}
    await cluster.apps.patch_namespaced_deployment("api", ns, patch)
    deploy = await cluster.eventually(lambda: settled(2, "example.com/app:2"), "rolled to app:2")
    assert deploy.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    replicasets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
        for rs in (await cluster.apps.list_namespaced_replica_set(ns)).items
    }
    assert replicasets["1"].spec.replicas == 0
    assert replicasets["2"].spec.replicas == 2
    assert (
        replicasets["1"].metadata.labels["pod-template-hash"]
        != replicasets["2"].metadata.labels["pod-template-hash"]
    )


def statefulset(name: str, replicas: int, image: str, policy: str = "OrderedReady") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": f"{name}-headless",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "engine", "image": image}]},
            },
        },
    }


async def test_statefulset_ordinal_pods_status_and_rolling_update(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.apps.create_namespaced_stateful_set(ns, statefulset("llm", 3, "example.com/engine:1"))

    async def rolled(image: str) -> Any:
        got = await cluster.apps.read_namespaced_stateful_set("llm", ns)
        status = got.status
        pods = await _pods(cluster, ns, "app=llm")
        done = (
            status.ready_replicas == 3
            and status.updated_replicas == 3
            and status.current_revision == status.update_revision
            and status.current_replicas == 3
            and sorted(pod.metadata.name for pod in pods) == ["llm-0", "llm-1", "llm-2"]
            and all(pod.spec.containers[0].image == image and pod.status.phase == "Running" for pod in pods)
        )
        return (got, pods) if done else None

    sts, pods = await cluster.eventually(lambda: rolled("example.com/engine:1"), "3 ordinal pods ready")
    assert sts.status.available_replicas == 3
    assert sts.status.observed_generation == sts.metadata.generation
    first_revision = sts.status.update_revision
    assert first_revision.startswith("llm-")
    for pod in pods:
        assert pod.spec.hostname == pod.metadata.name
        assert pod.spec.subdomain == "llm-headless"
        assert pod.metadata.labels["controller-revision-hash"] == first_revision
        assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == pod.metadata.name
    created = sorted(pods, key=lambda pod: pod.metadata.name)
    stamps = [pod.metadata.creation_timestamp for pod in created]
    assert stamps == sorted(stamps)  # OrderedReady creates 0, then 1, then 2

    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "engine", "image": "example.com/engine:2"}]}}}
    }
    await cluster.apps.patch_namespaced_stateful_set("llm", ns, patch)
    sts, pods = await cluster.eventually(lambda: rolled("example.com/engine:2"), "rolled to engine:2")
    assert sts.status.update_revision != first_revision
    assert all(pod.metadata.labels["controller-revision-hash"] == sts.status.update_revision for pod in pods)
    # reverse ordinal order: llm-2 was replaced first, so it is the oldest of the new pods
    new_stamps = {pod.metadata.name: pod.metadata.creation_timestamp for pod in pods}
    assert new_stamps["llm-2"] <= new_stamps["llm-1"] <= new_stamps["llm-0"]

    await cluster.apps.patch_namespaced_stateful_set_scale("llm", ns, {"spec": {"replicas": 1}})

    async def scaled_down() -> bool:
        names = [pod.metadata.name for pod in await _pods(cluster, ns, "app=llm")]
        got = await cluster.apps.read_namespaced_stateful_set("llm", ns)
        return names == ["llm-0"] and got.status.replicas == 1

    await cluster.eventually(scaled_down, "scaled down to llm-0")


def job(name: str, code: str, backoff_limit: int = 0, completions: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "completions": completions,
            "parallelism": 1,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "local/python", "args": ["-c", code]}],
                }
            },
        },
    }


async def _finished_job(cluster: BuiltinsCluster, ns: str, name: str) -> Any:
    got = await cluster.batch.read_namespaced_job(name, ns)
    conditions = {c.type: c for c in got.status.conditions or []}
    finished = any(
        conditions.get(kind) and conditions[kind].status == "True" for kind in ("Complete", "Failed")
    )
    return (got, conditions) if finished else None


async def test_job_runs_to_completion(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.batch.create_namespaced_job(ns, job("ok", "print('done')", completions=2))
    got, conditions = await cluster.eventually(lambda: _finished_job(cluster, ns, "ok"), "job finished")
    assert conditions["Complete"].status == "True"
    assert conditions["SuccessCriteriaMet"].status == "True"
    assert "Failed" not in conditions
    assert got.status.succeeded == 2
    assert not got.status.active
    assert got.status.start_time is not None
    assert got.status.completion_time is not None
    pods = (await cluster.core.list_namespaced_pod(ns, label_selector="job-name=ok")).items
    assert sorted(pod.status.phase for pod in pods) == ["Succeeded", "Succeeded"]
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")


async def test_job_fails_after_backoff_limit(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    await cluster.batch.create_namespaced_job(ns, job("bad", "import sys; sys.exit(1)", backoff_limit=1))
    got, conditions = await cluster.eventually(lambda: _finished_job(cluster, ns, "bad"), "job finished")
    assert conditions["Failed"].status == "True"
    assert conditions["Failed"].reason == "BackoffLimitExceeded"
    assert conditions["FailureTarget"].status == "True"
    assert "Complete" not in conditions
    assert got.status.failed == 2
    assert not got.status.succeeded
    pods = (await cluster.core.list_namespaced_pod(ns, label_selector="job-name=bad")).items
    assert [pod.status.phase for pod in pods] == ["Failed", "Failed"]
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (1, "Error")


async def test_job_active_deadline(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    body = job("slow", "import time; time.sleep(60)")
    body["spec"]["activeDeadlineSeconds"] = 1
    await cluster.batch.create_namespaced_job(ns, body)
    _, conditions = await cluster.eventually(lambda: _finished_job(cluster, ns, "slow"), "deadline hit")
    assert conditions["Failed"].reason == "DeadlineExceeded"

    async def pods_gone() -> bool:
        return not await _pods(cluster, ns, "job-name=slow")

    await cluster.eventually(pods_gone, "the running pod deleted")


async def test_statefulset_parallel_creates_all_pods_at_once(builtins_cluster: BuiltinsCluster) -> None:
    cluster = builtins_cluster
    ns = await cluster.namespace()
    # registry.invalid images never pull: OrderedReady would stop at ordinal 0, Parallel creates every ordinal
    await cluster.apps.create_namespaced_stateful_set(
        ns, statefulset("par", 3, "registry.invalid/x:1", "Parallel")
    )

    async def all_created() -> list[str]:
        names = sorted(pod.metadata.name for pod in await _pods(cluster, ns, "app=par"))
        return names if names == ["par-0", "par-1", "par-2"] else []

    await cluster.eventually(all_created, "3 pods created in parallel")
    await cluster.apps.create_namespaced_stateful_set(ns, statefulset("ord", 3, "registry.invalid/x:1"))

    async def first_only() -> list[str]:
        return sorted(pod.metadata.name for pod in await _pods(cluster, ns, "app=ord"))

    assert await cluster.eventually(first_only, "ordinal 0 created") == ["ord-0"]
    sts = await cluster.apps.read_namespaced_stateful_set("ord", ns)
    assert not sts.status.ready_replicas
    assert await first_only() == ["ord-0"]  # never past an unready ordinal
