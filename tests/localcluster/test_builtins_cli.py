"""`kaito local up/status/down` round trip: a daemon with simulated GPU nodes, and nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from kaito.cli.local import builtins_config, gpu_node_specs, parse_gpus


def kaito(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kaito.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state not in ("Z", "X"):
            pids.append(int(proc.name))
    return pids


def test_gpu_flags_become_node_specs() -> None:
    specs = gpu_node_specs(parse_gpus(["Standard_NC12s_v3=2", "p5.48xlarge"]))
    by_name = {spec.name: spec for spec in specs}
    assert sorted(by_name) == [
        "kaito-local-control-plane",
        "p5-48xlarge-0",
        "standard-nc12s-v3-0",
        "standard-nc12s-v3-1",
    ]
    v100 = by_name["standard-nc12s-v3-0"]
    assert (v100.instance_type, v100.gpu_count, v100.gpu_memory_mib) == ("Standard_NC12s_v3", 2, 16160)
    assert by_name["p5-48xlarge-0"].gpu_count == 8
    with pytest.raises(ValueError, match="SKU=N"):
        parse_gpus(["Standard_NC6s_v3=two"])


@pytest.mark.slow
def test_local_up_status_down_round_trip(tmp_path: Path) -> None:
    data_dir = tmp_path / "local"
    up = kaito(
        "local", "up", "--gpus", "Standard_NC24ads_A100_v4=1", "--data-dir", str(data_dir), "--port", "0"
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        kubeconfig = data_dir / "kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in up.stdout
        assert "standard-nc24ads-a100-v4-0" in up.stdout
        status = kaito("local", "status", "--data-dir", str(data_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "running" in status.stdout
        server = urlparse(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"])
        kubectl = Path(sys.executable).parent / "kubectl"
        nodes = subprocess.run(
            [str(kubectl), "get", "nodes", "-o", "yaml"],
            capture_output=True,
            text=True,
            env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
            timeout=30,
            check=True,
        )
        items = {item["metadata"]["name"]: item for item in yaml.safe_load(nodes.stdout)["items"]}
        gpu = items["standard-nc24ads-a100-v4-0"]
        assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "1"
        assert gpu["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-80GB-PCIe"
    finally:
        down = kaito("local", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert not _processes_mentioning(str(data_dir))
    with socket.socket() as sock:
        assert sock.connect_ex((server.hostname or "127.0.0.1", server.port or 0)) != 0
    assert kaito("local", "status", "--data-dir", str(data_dir)).returncode == 1
    assert "not running" in kaito("local", "down", "--data-dir", str(data_dir)).stdout

    # the state survives a restart, but the configured nodes follow the new flags
    again = kaito("local", "up", "--gpus", "Standard_NC6s_v3=1", "--data-dir", str(data_dir), "--port", "0")
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert "kaito-local-control-plane, standard-nc6s-v3-0\n" in again.stdout
    finally:
        assert kaito("local", "down", "--data-dir", str(data_dir)).returncode == 0
    assert not _processes_mentioning(str(data_dir))


def test_config_file_sets_runner_options(tmp_path: Path) -> None:
    config = tmp_path / "local.yaml"
    config.write_text(
        "image_commands:\n  example.com/engine: {entrypoint: [python, -m, http.server, $(PORT)]}\n"
        "simulated_ready_delay_s: 0.2\nnodes:\n  - {name: extra, gpu_count: 2, gpu_product: NVIDIA-L4}\n"
    )
    settings = builtins_config(tmp_path, parse_gpus(["Standard_NC6s_v3"]), config)
    assert settings.runtime_for("example.com/engine:0.1") is not None
    assert settings.simulated_ready_delay_s == 0.2
    assert [node.name for node in settings.nodes] == [
        "kaito-local-control-plane",
        "standard-nc6s-v3-0",
        "extra",
    ]
    config.write_text("simulated_ready_delay_s: -1\n")
    with pytest.raises(ValueError, match="simulated_ready_delay_s"):
        builtins_config(tmp_path, [], config)
