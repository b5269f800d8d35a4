"""What `kaito local up --with-operator` adds: serving image mapping, operator flags, leftover detection."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from kaito.cli.local_stack import (
    SERVE_IMAGE_PATTERN,
    OperatorSettings,
    data_dir_processes,
    operator_argv,
    serving_images,
)
from kaito.localcluster.builtins import BuiltinsConfig
from kaito.serving.local_model import LOCAL_MODEL_DIR_ENV


def test_the_reconcilers_image_maps_to_the_hosts_kaito_serve(tmp_path: Path) -> None:
    settings = OperatorSettings(health_port=1234, model_dir=tmp_path / "models" / "tiny")
    config = BuiltinsConfig(data_dir=tmp_path, image_commands=serving_images(settings))
    runtime = config.runtime_for("ghcr.io/kaito-py/kaito-serve:0.1.0")
    assert runtime is not None
    assert runtime.executables["kaito"] == str(Path(sys.executable).parent / "kaito")
    assert runtime.env[LOCAL_MODEL_DIR_ENV] == str(settings.model_dir)
    assert runtime.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert config.runtime_for("ghcr.io/kaito-py/kaito:0.1.0") is None
    assert SERVE_IMAGE_PATTERN in config.image_commands


def test_operator_runs_local_provider_without_leader_election(tmp_path: Path) -> None:
    argv = operator_argv(OperatorSettings(health_port=4321, model_dir=tmp_path), tmp_path / "kubeconfig")
    assert argv[:4] == [sys.executable, "-m", "kaito.cli", "operator"]
    for flag in (
        "--controllers=workspace,provisioner",
        "--provider=local",
        "--no-leader-elect",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        "--health-address=127.0.0.1:4321",
        "--webhook-url-host=127.0.0.1",
    ):
        assert flag in argv


def test_leftover_processes_are_found_by_command_line_and_pod_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    by_cmdline = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(data_dir)])
    by_environ = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, "KAITO_LOCAL_POD_DIR": f"{data_dir}/pods/uid"}
    )
    try:
        deadline = time.monotonic() + 10
        while set(data_dir_processes(data_dir)) != {by_cmdline.pid, by_environ.pid}:
            assert time.monotonic() < deadline, data_dir_processes(data_dir)
            time.sleep(0.1)
    finally:
        for process in (by_cmdline, by_environ):
            process.kill()
            process.wait()
    assert data_dir_processes(data_dir) == []
