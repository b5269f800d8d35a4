"""Renders deploy/'s kustomizations with the real kubectl and finds objects in the result."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
DEPLOY = REPO / "deploy"
RBAC = DEPLOY / "base" / "rbac" / "kustomization.yaml"
# Every kustomization a user applies (OVERLAY=default|azure|prometheus|local in the Makefile).
OVERLAYS: dict[str, Path] = {
    "default": DEPLOY / "default",
    "azure": DEPLOY / "overlays" / "azure",
    "prometheus": DEPLOY / "overlays" / "prometheus",
    "local": DEPLOY / "overlays" / "local",
}
NAMESPACE = "kaito-system"
OPERATOR = "kaito-operator"

Manifest = dict[str, Any]


def require_rbac() -> None:
    """deploy/base lists rbac/ (owned by the RBAC work); nothing renders until it exists."""
    if not RBAC.exists():
        pytest.skip("deploy/base/rbac/ does not exist yet: deploy/base cannot render without it")


@functools.cache
def _render_text(directory: Path) -> str:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed: {result.stderr}")
    return result.stdout


def render_text(overlay: str) -> str:
    require_rbac()
    return _render_text(OVERLAYS[overlay])


def render(overlay: str) -> list[Manifest]:
    """The objects `kubectl apply -k` would send for this overlay."""
    return [doc for doc in yaml.safe_load_all(render_text(overlay)) if doc]


def find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def find_prefixed(docs: list[Manifest], kind: str, prefix: str) -> Manifest:
    """A generated object (name + content hash suffix)."""
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(matches) == 1, f"expected one {kind} named {prefix}*, found {len(matches)}"
    return matches[0]


def operator_container(docs: list[Manifest]) -> Manifest:
    containers = find(docs, "Deployment", OPERATOR)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Manifest = containers[0]
    return container


def operator_environment(docs: list[Manifest]) -> dict[str, str | None]:
    """Every variable the operator container gets: literal `env` values (None for valueFrom) and envFrom
    ConfigMap keys with their values."""
    container = operator_container(docs)
    environment: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        environment.update(find(docs, "ConfigMap", name)["data"])
    for var in container.get("env", []):
        environment[var["name"]] = var.get("value")
    return environment


def load_yaml_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


Run = Callable[..., "subprocess.CompletedProcess[str]"]


def kubectl_runner(environment: dict[str, str], timeout: float) -> Run:
    """The real kubectl with ``environment``; a failure (unless ``check=False``) fails the test."""

    def run(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args],
            env=environment,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


def run_make(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`make ARGS` at the repository root; `-o`: never rebuild the venv stamp (tests use their own venv)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
