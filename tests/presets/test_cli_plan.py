"""`kaito plan` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.cli.main import main

WALKTHROUGH = """\
apiVersion: kaito.sh/v1alpha1
kind: Workspace
metadata: {name: workspace-phi-3-mini}
resource:
  instanceType: "Standard_NC6s_v3"
  labelSelector: {matchLabels: {apps: phi-3}}
inference:
  preset: {name: phi-3-mini-4k-instruct}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "workspace.yaml"
    path.write_text(text)
    return str(path)


def test_table_for_the_walkthrough_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-f", write(tmp_path, WALKTHROUGH)]) == 0
    out = capsys.readouterr().out
    assert "Workspace workspace-phi-3-mini: phi-3-mini-4k-instruct on Standard_NC6s_v3" in out
    assert "tensor 1 × pipeline 1" in out
    assert "float16" in out
    assert "4,096 tokens" in out
    assert "memory per GPU" in out
    assert "--max-model-len 4096" in out


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-f", write(tmp_path, WALKTHROUGH), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tensor_parallel_size"] == 1
    assert data["nodes"] == 1
    assert data["dtype"] == "float16"
    assert data["max_model_len"] == 4096
    assert data["memory_gib"]["weights"] == 7.12
    assert data["explanation"]


def test_flags_instead_of_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--preset", "llama-3.3-70b-instruct", "--instance-type", "standard_nd96isr_h100_v5"])
    assert code == 0
    assert "tensor 8 × pipeline 1" in capsys.readouterr().out


def test_too_small_sku_prints_the_refusal_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--preset", "phi-3-medium-4k-instruct", "--instance-type", "Standard_NC6s_v3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "resource.instanceType" in err
    assert "GiB short" in err
    assert "instance types that fit:" in err


def test_refusal_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "plan",
        "--preset",
        "phi-3-medium-4k-instruct",
        "--instance-type",
        "Standard_NC6s_v3",
        "-o",
        "json",
    ]
    assert main(args) == 1
    refusal = json.loads(capsys.readouterr().out)["error"]
    assert refusal["reason"] == "InsufficientGPUMemory"
    assert refusal["shortfall"]["short_per_gpu"] > 0
    assert refusal["suggested_skus"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: Workspace\nresource: [unclosed\n", "not valid YAML at line"),
        (WALKTHROUGH.replace("resource:", "spec:\n  x: 1\nresource:"), "spec"),
        (WALKTHROUGH.replace('instanceType: "Standard_NC6s_v3"', "count: 0"), "resource.count"),
        (
            WALKTHROUGH.replace("  labelSelector: {matchLabels: {apps: phi-3}}\n", ""),
            "resource.labelSelector",
        ),
        (WALKTHROUGH.replace("phi-3-mini-4k-instruct", "phi-3-mini"), "inference.preset.name"),
        (WALKTHROUGH.replace("Standard_NC6s_v3", "Standard_NC6s_v9"), "resource.instanceType"),
        ("apiVersion: v1\nkind: ConfigMap\n", "no Workspace"),
    ],
)
def test_bad_files_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    assert main(["plan", "-f", write(tmp_path, text)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-f", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_tuning_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = WALKTHROUGH.replace(
        "inference:\n  preset: {name: phi-3-mini-4k-instruct}\n",
        "tuning:\n  preset: {name: phi-3-mini-4k-instruct}\n  method: qlora\n"
        "  input: {urls: [https://example.com/train.parquet]}\n"
        "  output: {image: registry.example.com/adapter:0.0.1, imagePushSecret: push}\n",
    )
    assert main(["plan", "-f", write(tmp_path, tuning)]) == 0
    out = capsys.readouterr().out
    assert "(tuning, qlora)" in out
    assert "adapter+optimizer+activations" in out


def test_bring_your_own_nodes_from_labels(capsys: pytest.CaptureFixture[str]) -> None:
    labels = ["nvidia.com/gpu.count=4", "nvidia.com/gpu.product=NVIDIA-A10G", "nvidia.com/gpu.memory=23028"]
    args = ["plan", "--preset", "llama-3.1-8b-instruct"]
    for label in labels:
        args += ["--node-label", label]
    assert main(args) == 0
    assert "nodes with NVIDIA-A10G" in capsys.readouterr().out
    assert main(["plan", "--preset", "llama-3.1-8b-instruct"]) == 2
    assert "labelSelector" in capsys.readouterr().err


def test_catalog_listings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--list-presets", "--list-skus", "--cloud", "aws"]) == 0
    out = capsys.readouterr().out
    assert "gpt-oss-120b" in out
    assert "p5.48xlarge" in out
    assert "Standard_NC6s_v3" not in out
