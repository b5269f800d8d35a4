"""Weight download progress in InferenceReady: read from the `weights` init container's log, refreshed by a
requeue while it runs; the startup probe's budget follows the weight size."""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.api import Workspace
from kaito.api.weights import GIB, MIB, WEIGHTS_CONTAINER, WEIGHTS_PROGRESS_EVENT
from kaito.controllers.client import KubeClient
from kaito.controllers.controller import Result
from kaito.controllers.errors import ApiError
from kaito.controllers.informer import Informer
from kaito.controllers.resource import PODS, STATEFULSETS
from kaito.localcluster.builtins import ImageRuntime
from kaito.presets import get_preset
from kaito.reconcilers.inference import WorkloadShape, preset_pod_template
from kaito.reconcilers.names import WORKSPACES, workspace_labels
from kaito.reconcilers.pods import DOWNLOADING_WEIGHTS, PodProblem, summarize_pods
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.status import StatusBuilder
from kaito.reconcilers.weights_progress import LOG_LIMIT_BYTES, LOG_TAIL_LINES, WeightsProgressReader
from kaito.reconcilers.workloads import startup_budget_s
from weights.hub_emulator import HubEmulator, HubRepo, tiny_model_files

from .conftest import Cluster, condition, eventually, load_example, running_operator

JSON = dict[str, Any]
PRESET = "phi-3-mini-4k-instruct"
PROGRESS = re.compile(r"^pod (\S+): downloading weights: ([\d.]+)/([\d.]+) (KiB|MiB|GiB)(, .+/s)?$")


class _LogClient(KubeClient):
    """Answers `read_log` with fixed text (or an error) and counts the reads; nothing else is called."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.reads: list[JSON] = []

    async def read_log(self, namespace: str, pod: str, **options: Any) -> str:
        self.reads.append({"namespace": namespace, "pod": pod, **options})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _workspace(status: JSON | None = None) -> Workspace:
    doc: JSON = {
        "metadata": {"name": "ws", "namespace": "ns", "generation": 1},
        "resource": {"instanceType": "Standard_NC24ads_A100_v4", "labelSelector": {"matchLabels": {}}},
        "inference": {"preset": {"name": PRESET}},
    }
    if status is not None:
        doc["status"] = status
    return Workspace.model_validate(doc)


def _pods(workspace: Workspace, *states: JSON) -> Informer:
    """A pod cache holding `ws-0`, `ws-1`, ... whose weights init containers are in `states`."""
    informer = Informer(_LogClient(""), PODS)
    for index, state in enumerate(states):
        informer.store.upsert(
            {
                "metadata": {
                    "name": f"ws-{index}",
                    "namespace": "ns",
                    "labels": workspace_labels(workspace),
                },
                "status": {
                    "phase": "Pending",
                    "initContainerStatuses": [{"name": WEIGHTS_CONTAINER, "state": state}],
                    "containerStatuses": [{"name": "inference", "state": {"waiting": {}}}],
                },
            }
        )
    return informer


RUNNING: JSON = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
DONE: JSON = {"terminated": {"exitCode": 0, "reason": "Completed"}}


def _line(done: int, total: int, rate: int | None) -> str:
    body = {"model": f"microsoft/{PRESET}@main", "phase": "downloading", "bytes_done": done}
    body |= {
        "bytes_total": total,
        "rate_bytes_per_s": rate,
        "summary": "...",
        "event": WEIGHTS_PROGRESS_EVENT,
    }
    return json.dumps(body | {"level": "info", "timestamp": "2026-01-01T00:00:01Z"})


def _pass(workspace: Workspace, informer: Informer) -> tuple[StatusBuilder, PodProblem]:
    """The status as the workload pass leaves it (InferenceReady from the pods' summary), and its problem."""
    builder = StatusBuilder(workspace)
    builder.resource(True, "NodesReady", "1 GPU node(s) ready")
    problem = summarize_pods(informer.store.select(None)).problem
    assert problem is not None
    builder.inference(False, problem.reason, f"pod {problem.pod}: {problem.message}")
    builder.summarize_inference()
    return builder, problem


def _message(builder: StatusBuilder, type_: str = "InferenceReady") -> tuple[str, str]:
    found = builder.status.condition(type_)
    assert found is not None
    return found.reason, found.message


SETTINGS = WorkspaceSettings(weights_progress_poll_s=7.5, weights_log_timeout_s=1.5)


async def test_the_newest_progress_line_becomes_the_message_and_the_pass_requeues() -> None:
    workspace = _workspace()
    informer = _pods(workspace, DONE, RUNNING)  # ws-0 fetched; ws-1 is the one InferenceReady names
    log = "\n".join(
        [
            "plain text first",
            _line(GIB, int(7.1 * GIB), None),
            _line(int(3.1 * GIB), int(7.1 * GIB), 210 * MIB),
        ]
    )
    client = _LogClient(log + "\n")
    builder, problem = _pass(workspace, informer)
    result = await WeightsProgressReader(client, SETTINGS).show(workspace, problem, builder)
    assert result == Result(requeue_after=7.5)
    expected = (DOWNLOADING_WEIGHTS, "pod ws-1: downloading weights: 3.1/7.1 GiB, 210 MiB/s")
    assert _message(builder) == expected
    assert _message(builder, "WorkspaceReady") == expected  # the summary condition says the same
    assert builder.status.state == "Starting"
    assert client.reads == [
        {
            "namespace": "ns",
            "pod": "ws-1",
            "container": WEIGHTS_CONTAINER,
            "tail_lines": LOG_TAIL_LINES,
            "limit_bytes": LOG_LIMIT_BYTES,
            "request_timeout": 1.5,
        }
    ]


@pytest.mark.parametrize(
    "answer",
    [
        ApiError(403, "Forbidden", 'pods "ws-0" is forbidden: cannot get resource "pods/log"'),
        TimeoutError(),
        "",  # the fetch has not logged a progress line yet
        "Traceback (most recent call last):\n  ...\n",
    ],
    ids=["forbidden", "timeout", "empty", "no-progress-line"],
)
async def test_without_a_progress_line_the_generic_message_stays(answer: str | Exception) -> None:
    workspace = _workspace()
    informer = _pods(workspace, RUNNING)
    builder, problem = _pass(workspace, informer)
    before = _message(builder)
    result = await WeightsProgressReader(_LogClient(answer), SETTINGS).show(workspace, problem, builder)
    assert result == Result(requeue_after=7.5)  # the download goes on: look again
    assert _message(builder) == before
    assert before[0] == DOWNLOADING_WEIGHTS
    assert f"kubectl logs ws-0 -c {WEIGHTS_CONTAINER}" in before[1]


async def test_no_log_read_and_no_requeue_unless_downloading() -> None:
    workspace = _workspace()
    client = _LogClient(_line(1, 2, 3))
    reader = WeightsProgressReader(client, SETTINGS)
    builder = StatusBuilder(workspace)
    builder.inference(False, "PodsStarting", "0 of 1 inference pod(s) ready")
    assert await reader.show(workspace, None, builder) is None
    crashing = PodProblem("ws-0", "CrashLoopBackOff", "back-off restarting failed container")
    assert await reader.show(workspace, crashing, builder) is None
    builder.inference(True, "InferenceReady", "1 inference pod(s) ready")
    assert await reader.show(workspace, None, builder) is None
    assert client.reads == []


async def test_unchanged_progress_writes_nothing() -> None:
    """The same newest line on the next pass leaves the status as it was: no status write."""
    workspace = _workspace()
    informer = _pods(workspace, RUNNING)
    client = _LogClient(_line(5 * MIB, 10 * MIB, 2 * MIB))
    reader = WeightsProgressReader(client, SETTINGS)
    first, problem = _pass(workspace, informer)
    await reader.show(workspace, problem, first)
    assert first.changed
    again, problem = _pass(_workspace(first.document()), informer)
    await reader.show(workspace, problem, again)
    assert not again.changed
    client.answer = _line(6 * MIB, 10 * MIB, 2 * MIB)
    moved, problem = _pass(_workspace(first.document()), informer)
    await reader.show(workspace, problem, moved)
    assert moved.changed
    assert _message(moved)[1] == "pod ws-0: downloading weights: 6.0/10.0 MiB, 2 MiB/s"


def test_startup_probe_budget_follows_the_weight_size() -> None:
    """The engine's startup probe allows a fixed base plus time per GiB of weights to load them."""
    settings = WorkspaceSettings()
    small, large = get_preset(PRESET), get_preset("llama-3.3-70b-instruct")
    budgets = [startup_budget_s(settings, preset.weights_gib) for preset in (small, large)]
    per_gib = settings.startup_s_per_weight_gib
    assert budgets == [settings.startup_base_s + math.ceil(p.weights_gib * per_gib) for p in (small, large)]
    assert budgets[1] - budgets[0] > 100 * per_gib  # 131.4 GiB against 7.12 GiB
    for budget in budgets:
        shape = WorkloadShape(1, 1, False, (), budget)
        probe = preset_pod_template(_workspace(), shape, settings, "hash")["spec"]["containers"][0][
            "startupProbe"
        ]
        allowed = probe["failureThreshold"] * probe["periodSeconds"]
        assert budget <= allowed < budget + probe["periodSeconds"]


# -- in the embedded cluster, with the real `kaito weights fetch` --------------------------------------------
REAL_FETCH = "local/weights-progress"


@contextlib.asynccontextmanager
async def _real_fetch_image(cluster: Cluster, hub: HubEmulator) -> AsyncIterator[str]:
    """An image whose `kaito weights ...` is the real CLI against `hub` (its `kaito serve` only sleeps:
    serving is not under test). Registered for the test only; the runner reads the table per pod."""
    config = cluster.builtins.config
    script = config.data_dir / f"kaito-real-fetch-{uuid.uuid4().hex[:6]}"
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = weights ]; then exec {sys.executable} -m kaito.cli.main "$@"; fi\n'
        "exec sleep 120\n"
    )
    script.chmod(0o755)
    env = {"HF_ENDPOINT": hub.url, "KAITO_WEIGHTS_PROGRESS_INTERVAL": "0.25", "KAITO_LOCAL_MODEL_DIR": ""}
    before = config.image_commands
    # One reference swap: the cluster's thread may be reading the table right now.
    config.image_commands = before | {REAL_FETCH: ImageRuntime(executables={"kaito": str(script)}, env=env)}
    try:
        yield REAL_FETCH
    finally:
        config.image_commands = before


async def test_inference_ready_shows_the_download_as_it_happens(cluster: Cluster) -> None:
    preset = get_preset(PRESET)
    hub = await HubEmulator(
        {preset.hf_repo: HubRepo(tiny_model_files(weights_bytes=1_500_000, seed=4))}
    ).start()
    hub.throttle_bps = 250_000  # ~6 s for the weights: long enough to watch, short enough for a test
    total = sum(len(data) for data in hub.repos[preset.hf_repo].files.values())
    settings = WorkspaceSettings(weights_progress_poll_s=0.3)
    try:
        async with (
            _real_fetch_image(cluster, hub) as image,
            running_operator(cluster.kubeconfig, settings.model_copy(update={"inference_image": image})),
        ):
            ns = await cluster.namespace()
            doc = load_example("inference/kaito_workspace_phi_3.yaml", ns, f"wp-{uuid.uuid4().hex[:6]}")
            name = doc["metadata"]["name"]
            await cluster.kube.create(WORKSPACES, doc)
            partial: list[str] = []  # distinct "downloading weights: x/y" messages with x < y
            seen: list[str] = []

            async def finished() -> JSON | None:
                found = condition(await cluster.workspace(ns, name), "InferenceReady")
                if found is None:
                    return None
                message = str(found.get("message"))
                if not seen or seen[-1] != message:
                    seen.append(message)
                match = PROGRESS.match(message) if found["reason"] == DOWNLOADING_WEIGHTS else None
                if match and float(match[2]) < float(match[3]) and message not in partial:
                    partial.append(message)
                if hub.counters.bytes_served >= total and found["reason"] != DOWNLOADING_WEIGHTS:
                    return found  # the init container is done: InferenceReady moved on
                return None

            after = await eventually(finished, "the fetch to finish, showing its progress", within=45)
            assert len(partial) >= 2, seen  # refreshed during the download, with no other trigger
            assert after["status"] == "False"  # the stand-in engine never serves
            statefulset = await cluster.kube.get(STATEFULSETS, name, ns)
            probe = statefulset["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
            budget = startup_budget_s(settings, preset.weights_gib)
            assert probe["failureThreshold"] * probe["periodSeconds"] >= budget
    finally:
        await hub.stop()
