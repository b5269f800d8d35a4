"""The documents and names the reconciler builds, checked without a cluster."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kaito.api import Workspace
from kaito.api.adapters import DesiredAdapters
from kaito.api.runtime import dump_config, parse_config
from kaito.api.tuning_job import JobConfig
from kaito.presets import PlanError, get_preset, list_presets, plan_workspace
from kaito.reconcilers.inference import services
from kaito.reconcilers.names import nodeclaim_name
from kaito.reconcilers.pods import job_outcome, pod_problem
from kaito.reconcilers.runtime_config import (
    UserConfigError,
    adapters_yaml,
    desired_adapters,
    parse_user_config,
    runtime_config,
    to_yaml,
)
from kaito.reconcilers.tuning import tuning_config

POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def _workspace(preset: str, sku: str = "Standard_NC24ads_A100_v4", **inference: Any) -> Workspace:
    return Workspace.model_validate(
        {
            "metadata": {"name": "ws", "namespace": "ns"},
            "resource": {"instanceType": sku, "labelSelector": {"matchLabels": {"a": "b"}}},
            "inference": {"preset": {"name": preset}, **inference},
        }
    )


def test_nodeclaim_names_are_stable_distinct_agent_pool_names() -> None:
    names = {nodeclaim_name(f"ns{i % 7}", f"workspace-{i}", i % 3) for i in range(3000)}
    assert len(names) == 3000
    assert all(POOL_NAME.match(name) for name in names)
    assert nodeclaim_name("default", "a", 0) == nodeclaim_name("default", "a", 0)
    assert nodeclaim_name("default", "a", 0) != nodeclaim_name("default", "a", 1)


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_runtime_config_of_every_preset_is_what_kaito_serve_reads(preset: str) -> None:
    workspace = _workspace(preset, "Standard_ND96amsr_A100_v4")
    try:
        plan = plan_workspace(workspace)
    except PlanError:
        pytest.skip(f"{preset} does not fit one ND96amsr_A100_v4")
    document = runtime_config(workspace, get_preset(preset), plan, multi_node=False)
    config = parse_config(dump_config(document))
    assert config.model.name == preset
    assert config.plan.tensor_parallel_size == plan.tensor_parallel_size
    assert config.plan.max_model_len == plan.max_model_len
    assert config.plan.dtype == plan.dtype
    assert config.server.port == 5000


def test_desired_adapters_are_what_kaito_serve_reads() -> None:
    workspace = _workspace(
        "phi-3-mini-128k-instruct",
        adapters=[
            {"source": {"name": "img", "image": "r.io/a:1", "imagePullSecrets": ["s"]}, "strength": "0.25"},
            {"source": {"name": "vol", "volumeSource": {"persistentVolumeClaim": {"claimName": "c"}}}},
        ],
    )
    parsed = DesiredAdapters.model_validate(yaml.safe_load(adapters_yaml(desired_adapters(workspace))))
    assert [(a.name, a.image, a.path, a.strength, a.image_pull_secrets) for a in parsed.adapters] == [
        ("img", "r.io/a:1", None, "0.25", ["s"]),
        ("vol", None, "/mnt/adapter-volumes/vol", "1.0", []),
    ]


def test_user_config_keeps_engine_flags_and_refuses_planner_owned_ones() -> None:
    good = {"metadata": {"name": "cm"}, "data": {"inference_config.yaml": "vllm:\n  max-model-len: 2048\n"}}
    assert parse_user_config(good).max_model_len == 2048
    owned = {
        "metadata": {"name": "cm"},
        "data": {"inference_config.yaml": "vllm:\n  tensor-parallel-size: 4\n"},
    }
    with pytest.raises(UserConfigError, match="tensor-parallel-size"):
        parse_user_config(owned)
    with pytest.raises(UserConfigError, match=r"inference_config\.yaml"):
        parse_user_config({"metadata": {"name": "cm"}, "data": {"other": "x"}})


def _pod(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p-0"}, "status": status}


def test_pod_problems_are_classified() -> None:
    oom = _pod(
        {
            "containerStatuses": [
                {
                    "name": "inference",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    "lastState": {"terminated": {"reason": "OOMKilled"}},
                }
            ]
        }
    )
    problem = pod_problem(oom)
    assert problem is not None
    assert problem.reason == "OOMKilled"
    unschedulable = _pod(
        {
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}
            ]
        }
    )  # fmt: skip
    problem = pod_problem(unschedulable)
    assert problem is not None
    assert (problem.reason, problem.message) == (
        "Unschedulable",
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    )
    assert pod_problem(_pod({"containerStatuses": [{"name": "c", "state": {"running": {}}}]})) is None


def test_job_outcomes_come_from_job_conditions() -> None:
    failed = job_outcome(
        {"status": {"failed": 3, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]}}
    )  # fmt: skip
    assert (failed.finished, failed.succeeded, failed.reason) == (True, False, "BackoffLimitExceeded")
    running = job_outcome({"status": {"active": 1, "startTime": "2026-01-01T00:00:00Z"}})
    assert (running.started, running.finished) == (True, False)
    assert not job_outcome({}).started


def test_tuning_config_is_what_kaito_tune_reads() -> None:
    workspace = Workspace.model_validate(
        {
            "metadata": {"name": "t", "namespace": "ns"},
            "resource": {"instanceType": "Standard_NC6s_v3", "labelSelector": {"matchLabels": {"a": "b"}}},
            "tuning": {
                "preset": {"name": "phi-3-mini-4k-instruct"},
                "method": "qlora",
                "input": {"urls": ["https://example.com/train.parquet"]},
                "output": {"image": "r.io/out:1", "imagePushSecret": "push"},
            },
        }
    )
    plan = plan_workspace(workspace)
    document = tuning_config(workspace, get_preset("phi-3-mini-4k-instruct"), plan)
    config = JobConfig.model_validate(
        yaml.safe_load(to_yaml(document.model_dump(mode="json", by_alias=True)))
    )
    assert (config.method, config.output_image, str(config.data_dir)) == ("qlora", "r.io/out:1", "/mnt/data")
    assert config.model.path == "microsoft/Phi-3-mini-4k-instruct"


def test_enablelb_annotation_makes_a_load_balancer_service() -> None:
    workspace = _workspace("phi-3-mini-4k-instruct")
    assert services(workspace, multi_node=False)[0]["spec"]["type"] == "ClusterIP"
    annotated = workspace.model_copy(
        update={
            "metadata": workspace.metadata.model_copy(update={"annotations": {"kaito.sh/enablelb": "True"}})
        }
    )
    main, headless = services(annotated, multi_node=False)
    assert main["spec"]["type"] == "LoadBalancer"
    assert headless["spec"]["clusterIP"] == "None"
