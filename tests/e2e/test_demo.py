"""`kaito demo` end to end: local cluster, operator, kubectl, vLLM on CPU, both answers, clean teardown."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from kaito.cli.local_stack import data_dir_processes

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vllm,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm is not importable: install the `serving-cpu` extra",
    ),
]


@pytest.mark.timeout(DEMO_TIMEOUT_S + 60)
def test_demo_answers_both_routes_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "kaito.cli", "demo", "--data-dir", str(data_dir), "--timeout", "600"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "tiny locally built model" in result.stdout
    assert "$ kubectl apply -f examples/inference/kaito_workspace_phi_3.yaml" in result.stdout
    ready_rows = [
        line.split() for line in result.stdout.splitlines() if line.startswith("workspace-phi-3-mini ")
    ]
    assert ["True", "True", "True"] in [row[2:5] for row in ready_rows], output[-6000:]
    assert "80/TCP,29500/TCP" in result.stdout
    for route in ("/v1/chat/completions", "/chat"):
        answers = [line for line in result.stdout.splitlines() if line.startswith(f"answer from {route}: ")]
        assert answers, output[-6000:]
        assert answers[0] != f"answer from {route}: ''"
    assert "kaito demo: OK" in result.stdout
    assert data_dir_processes(data_dir.resolve()) == []
    assert not (data_dir / "cluster.pid").exists()
