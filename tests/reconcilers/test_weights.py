"""The `weights` init container of inference pods: what it runs, where the weights land, how failures show."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from kaito.api import Workspace
from kaito.api.runtime import dump_config, parse_config
from kaito.cli import weights as weights_cli
from kaito.cli.main import build_parser, main
from kaito.presets import get_preset, plan_workspace
from kaito.reconcilers.inference import WorkloadShape, preset_pod_template, statefulset
from kaito.reconcilers.names import WORKSPACES
from kaito.reconcilers.pods import pod_problem, summarize_pods
from kaito.reconcilers.runtime_config import WEIGHTS_DIR, runtime_config
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.serving.local_model import LOCAL_MODEL_DIR_ENV
from weights.hub_emulator import HubEmulator, HubRepo, tiny_model_files

from .conftest import DENIED_FETCH, SLOW_FETCH, Cluster, condition, eventually, load_example, running_operator

PRESET = "phi-3-mini-4k-instruct"
SECRET = "my-hf-token"
FETCH = ["kaito", "weights", "fetch", "--preset", PRESET]
FETCH += ["--cache", "/workspace/weights", "--termination-log", "/dev/termination-log"]

JSON = dict[str, Any]


def _workspace(secret: str | None = None) -> Workspace:
    preset: JSON = {"name": PRESET}
    if secret:
        preset["presetOptions"] = {"modelAccessSecret": secret}
    return Workspace.model_validate(
        {
            "metadata": {"name": "ws", "namespace": "ns"},
            "resource": {"instanceType": "Standard_NC24ads_A100_v4", "labelSelector": {"matchLabels": {}}},
            "inference": {"preset": preset},
        }
    )


def _shape(disk_gib: int = 0) -> WorkloadShape:
    return WorkloadShape(1, 1, False, (), 600, weights_disk_gib=disk_gib)


def _pod_spec(workspace: Workspace, settings: WorkspaceSettings | None = None) -> JSON:
    template = preset_pod_template(workspace, _shape(), settings or WorkspaceSettings(), "hash")
    spec: JSON = template["spec"]
    return spec


def test_init_container_fetches_the_preset_into_the_weights_volume() -> None:
    settings = WorkspaceSettings(inference_image="example.com/serve:1")
    spec = _pod_spec(_workspace(SECRET), settings)
    (init,) = spec["initContainers"]
    assert init["name"] == "weights"
    assert init["image"] == spec["containers"][0]["image"] == "example.com/serve:1"
    assert init["command"] == FETCH
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert init["terminationMessagePath"] == "/dev/termination-log"
    env = {item["name"]: item for item in init["env"]}
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": SECRET, "key": "HF_TOKEN"}}
    assert env["KAITO_MODEL_ACCESS_SECRET"]["value"] == SECRET
    assert init["volumeMounts"] == [{"name": "weights", "mountPath": WEIGHTS_DIR}]
    main_mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert main_mounts["weights"] == WEIGHTS_DIR
    assert {"name": "weights", "emptyDir": {}} in spec["volumes"]


def test_the_kaito_cli_accepts_the_init_container_command() -> None:
    (init,) = _pod_spec(_workspace(SECRET))["initContainers"]
    args = build_parser().parse_args(init["command"][1:])
    assert args.func is weights_cli.run
    assert (args.preset, args.cache, args.termination_log) == (
        PRESET,
        Path(WEIGHTS_DIR),
        Path("/dev/termination-log"),
    )


def test_no_token_env_without_a_model_access_secret() -> None:
    (init,) = _pod_spec(_workspace())["initContainers"]
    names = {item["name"] for item in init["env"]}
    assert "HF_TOKEN" not in names
    assert "KAITO_MODEL_ACCESS_SECRET" not in names


def test_weights_storage_class_gives_each_pod_a_pvc_sized_from_the_plan() -> None:
    workspace = _workspace()
    plan = plan_workspace(workspace)
    settings = WorkspaceSettings(weights_storage_class="premium-ssd")
    shape = _shape(plan.disk_gib)
    template = preset_pod_template(workspace, shape, settings, "hash")
    assert not [v for v in template["spec"]["volumes"] if v["name"] == "weights"]
    workload = statefulset(workspace, shape, template, settings.weights_storage_class)
    (claim,) = workload["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "weights"
    assert claim["spec"]["storageClassName"] == "premium-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{plan.disk_gib}Gi"
    assert plan.disk_gib >= get_preset(PRESET).weights_gib
    default = statefulset(workspace, shape, preset_pod_template(workspace, shape, WorkspaceSettings(), "h"))
    assert "volumeClaimTemplates" not in default["spec"]


def test_storage_class_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_WEIGHTS_STORAGE_CLASS", "fast")
    assert WorkspaceSettings().weights_storage_class == "fast"
    monkeypatch.delenv("KAITO_WEIGHTS_STORAGE_CLASS")
    assert WorkspaceSettings().weights_storage_class is None


async def test_runtime_config_names_the_directory_the_fetch_fills(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `kaito weights fetch --preset` (against a loopback hub) fills exactly the RuntimeConfig's
    model path, relative to the cache volume."""
    monkeypatch.setattr(weights_cli, "configure_logging", lambda *_args, **_kwargs: None)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv(LOCAL_MODEL_DIR_ENV, raising=False)
    workspace = _workspace()
    preset = get_preset(PRESET)
    config = parse_config(
        dump_config(runtime_config(workspace, preset, plan_workspace(workspace), multi_node=False))
    )
    relative = PurePosixPath(config.model.path).relative_to(WEIGHTS_DIR)
    hub = await HubEmulator({preset.hf_repo: HubRepo(tiny_model_files(seed=3))}).start()
    try:
        cache = tmp_path / "cache"
        args = ["weights", "fetch", "--preset", PRESET, "--cache", str(cache), "--hub-endpoint", hub.url]
        assert await asyncio.to_thread(main, [*args, "--termination-log", str(tmp_path / "log")]) == 0
    finally:
        await hub.stop()
    printed = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == cache / relative
    assert (printed / "config.json").is_file()


def test_local_model_dir_stands_in_for_the_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kaito local up` maps the serving image to the host's `kaito` with KAITO_LOCAL_MODEL_DIR: the init
    container then uses that model and never reaches for the hub."""
    monkeypatch.setattr(weights_cli, "configure_logging", lambda *_args, **_kwargs: None)
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setenv(LOCAL_MODEL_DIR_ENV, str(model))
    args = ["weights", "fetch", "--preset", PRESET, "--cache", str(tmp_path / "cache")]
    args += ["--hub-endpoint", "http://127.0.0.1:9", "--termination-log", str(tmp_path / "log")]
    assert main(args) == 0
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]) == model


def _pod(init: JSON) -> JSON:
    main_waiting = {"waiting": {"reason": "PodInitializing"}}
    return {
        "metadata": {"name": "ws-0"},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "weights", **init}],
            "containerStatuses": [{"name": "inference", "state": main_waiting}],
        },
    }


def _failed(message: str, exit_code: int) -> JSON:
    return {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}}


def test_running_fetch_is_downloading_weights() -> None:
    problem = pod_problem(_pod({"state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}))
    assert problem is not None
    assert problem.reason == "DownloadingWeights"
    assert "downloading" in problem.message
    summary = summarize_pods([_pod({"state": {"running": {}}})])
    assert summary.problem is not None
    assert summary.problem.reason == "DownloadingWeights"


def test_access_denied_names_the_secret() -> None:
    message = (
        f"ModelAccessDenied: the model hub refused the token from Secret '{SECRET}' (key HF_TOKEN) for "
        "meta-llama/Llama-3.1-8B-Instruct (HTTP 403)"
    )
    problem = pod_problem(_pod({"state": _failed(message, 21)}))
    assert problem is not None
    assert problem.reason == "ModelAccessDenied"
    assert SECRET in problem.message
    assert not problem.message.startswith("ModelAccessDenied")


@pytest.mark.parametrize(
    ("reason", "code"), [("ModelNotFound", 22), ("InsufficientDisk", 23), ("WeightsCorrupted", 24)]
)
def test_crash_looping_fetch_keeps_its_reason(reason: str, code: int) -> None:
    """Restarted (restartPolicy Always): the failure lives on in lastState, never a bare CrashLoopBackOff."""
    waiting = {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}
    }
    pod = _pod({"state": waiting, "lastState": _failed(f"{reason}: what went wrong and the fix", code)})
    problem = pod_problem(pod)
    assert problem is not None
    assert (problem.reason, problem.message) == (
        reason,
        "init container weights: what went wrong and the fix",
    )


def test_fetch_failure_without_a_reason_is_still_a_crash_loop() -> None:
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    pod = _pod({"state": waiting, "lastState": _failed("Traceback (most recent call last): ...", 1)})
    problem = pod_problem(pod)
    assert problem is not None
    assert problem.reason == "CrashLoopBackOff"


def test_finished_fetch_is_not_a_problem() -> None:
    done = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    assert pod_problem(_pod({"state": done})) is None


async def _inference_reason(cluster: Cluster, image: str, wanted: set[str]) -> JSON:
    """InferenceReady of a phi-3 Workspace served with `image`, once its reason is one of `wanted`."""
    async with running_operator(cluster.kubeconfig, WorkspaceSettings(inference_image=image)):
        ns = await cluster.namespace()
        doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, f"wt-{uuid.uuid4().hex[:6]}")
        await cluster.kube.create(WORKSPACES, doc)

        async def probe() -> JSON | None:
            found = condition(await cluster.workspace(ns, doc["metadata"]["name"]), "InferenceReady")
            return found if found and found["reason"] in wanted else None

        return await eventually(probe, f"InferenceReady reason in {sorted(wanted)}", within=40)


async def test_a_running_fetch_shows_as_downloading_weights(cluster: Cluster) -> None:
    found = await _inference_reason(cluster, SLOW_FETCH, {"DownloadingWeights"})
    assert found["status"] == "False"
    assert "weights" in found["message"]


async def test_a_failing_fetch_is_never_a_silent_crash_loop(cluster: Cluster) -> None:
    # The init container's message (its log tail, FallbackToLogsOnError) carries the reason to the Workspace.
    found = await _inference_reason(cluster, DENIED_FETCH, {"ModelAccessDenied"})
    assert found["status"] == "False"
    assert "Secret hf-token" in found["message"]
