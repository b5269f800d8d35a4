"""The tuning Job of a Workspace and the container contract its pods follow.

Contract (the `kaito tune` CLI implements the other side):
- data: `/mnt/data`. `input.urls` and `input.image` are fetched by the init container `fetch-data`
  running `kaito tune fetch --output /mnt/data (--url URL ... | --image REF)` in the tuning image, with
  `input.imagePullSecrets` mounted under `/etc/kaito/pull-secrets/<secret>`; `input.volumeSource` is
  mounted at `/mnt/data` read-only instead (no init container).
- training: container `tuning` runs `kaito tune --config /etc/kaito/tuning/config.yaml` (ConfigMap
  `<ws>-tuning`, keys below); the user's `tuning.config` ConfigMap, if any, is mounted at
  `/etc/kaito/tuning-user` and named by `--user-config`.
- output: the adapter is written to `/mnt/output`; with `output.image` the same container pushes it there
  (`--push REF`, credentials from `output.imagePushSecret` mounted at `/etc/kaito/push-secret`); with
  `output.volumeSource` `/mnt/output` is that volume.
"""

from __future__ import annotations

from typing import Any, Final

from kaito.api.tuning_job import TUNING_DATA_DIR, TUNING_OUTPUT_DIR, JobConfig, ModelRef
from kaito.api.workspace import Workspace
from kaito.controllers.objects import thaw
from kaito.presets import ModelPreset, Plan
from kaito.reconcilers.inference import gpu_tolerations, node_affinity
from kaito.reconcilers.names import tuning_job_name, workspace_labels
from kaito.reconcilers.nodes import GPU_RESOURCE
from kaito.reconcilers.settings import WorkspaceSettings

DATA_DIR: Final = str(TUNING_DATA_DIR)
OUTPUT_DIR: Final = str(TUNING_OUTPUT_DIR)
CONFIG_DIR: Final = "/etc/kaito/tuning"
CONFIG_KEY: Final = "config.yaml"
USER_CONFIG_DIR: Final = "/etc/kaito/tuning-user"
PUSH_SECRET_DIR: Final = "/etc/kaito/push-secret"
PULL_SECRETS_DIR: Final = "/etc/kaito/pull-secrets"
BACKOFF_LIMIT: Final = 2

JSON = dict[str, Any]


def tuning_configmap_name(workspace: Workspace) -> str:
    return f"{workspace.metadata.name}-tuning"


def tuning_config(workspace: Workspace, preset: ModelPreset, plan: Plan) -> JobConfig:
    """What `kaito tune` reads: the model, the method and the sizing the planner chose."""
    assert workspace.tuning is not None
    return JobConfig(
        model=ModelRef(name=preset.name, path=preset.hf_repo, revision=preset.revision),
        method=workspace.tuning.method.value,
        dtype=plan.dtype,
        gpus=plan.gpus_in_use_per_node,
        output_image=workspace.tuning.output.image,
    )


def _secret_volume(name: str, secret: str) -> JSON:
    return {"name": name, "secret": {"secretName": secret}}


def tuning_job(
    workspace: Workspace, plan: Plan, byo_nodes: tuple[str, ...], settings: WorkspaceSettings
) -> JSON:
    """One pod on one GPU node: fetch the data, train, publish the adapter."""
    assert workspace.tuning is not None
    tuning = workspace.tuning
    volumes: list[JSON] = [
        {"name": "config", "configMap": {"name": tuning_configmap_name(workspace)}},
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
    ]
    mounts: list[JSON] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "data", "mountPath": DATA_DIR},
        {"name": "output", "mountPath": OUTPUT_DIR},
    ]
    init_containers: list[JSON] = []
    source = tuning.input
    if source.volume_source is not None:
        volumes.append({"name": "data", **thaw(source.volume_source)})
        mounts[2]["readOnly"] = True
    else:
        volumes.append({"name": "data", "emptyDir": {}})
        args = ["tune", "fetch", "--output", DATA_DIR]
        if source.urls is not None:
            for url in source.urls:
                args += ["--url", url]
        elif source.image is not None:
            args += ["--image", source.image]
        fetch_mounts: list[JSON] = [{"name": "data", "mountPath": DATA_DIR}]
        for index, secret in enumerate(source.image_pull_secrets):
            volumes.append(_secret_volume(f"pull-secret-{index}", secret))
            fetch_mounts.append(
                {
                    "name": f"pull-secret-{index}",
                    "mountPath": f"{PULL_SECRETS_DIR}/{secret}",
                    "readOnly": True,
                }
            )
        init_containers.append(
            {"name": "fetch-data", "image": settings.tuning_image, "command": ["kaito", *args],
             "volumeMounts": fetch_mounts}
        )  # fmt: skip
    command = ["kaito", "tune", "--config", f"{CONFIG_DIR}/{CONFIG_KEY}"]
    if tuning.config:
        volumes.append({"name": "user-config", "configMap": {"name": tuning.config}})
        mounts.append({"name": "user-config", "mountPath": USER_CONFIG_DIR, "readOnly": True})
        command += ["--user-config", USER_CONFIG_DIR]
    output = tuning.output
    if output.volume_source is not None:
        volumes.append({"name": "output", **thaw(output.volume_source)})
    else:
        volumes.append({"name": "output", "emptyDir": {}})
        assert output.image is not None
        assert output.image_push_secret is not None
        volumes.append(_secret_volume("push-secret", output.image_push_secret))
        mounts.append({"name": "push-secret", "mountPath": PUSH_SECRET_DIR, "readOnly": True})
        command += ["--push", output.image]
    gpus = str(plan.gpus_per_node)
    pod_spec: JSON = {
        "restartPolicy": "Never",
        "initContainers": init_containers,
        "containers": [
            {
                "name": "tuning",
                "image": settings.tuning_image,
                "command": command,
                "env": [{"name": "HF_HOME", "value": f"{DATA_DIR}/.hf"}],
                "resources": {"requests": {GPU_RESOURCE: gpus}, "limits": {GPU_RESOURCE: gpus}},
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
        "tolerations": gpu_tolerations(),
        "affinity": node_affinity(workspace, byo_nodes),
    }
    if settings.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    labels = workspace_labels(workspace)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": tuning_job_name(workspace), "namespace": workspace.metadata.namespace,
                     "labels": labels},
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }  # fmt: skip
