"""`kaito local up --with-operator`: kaito's own stack on the local cluster (CRDs, operator, CPU serving).

The operator runs as a child process of the cluster daemon. The serving image maps to the host's `kaito serve`
with `KAITO_LOCAL_MODEL_DIR` pointing at a tiny model built once in the data dir: it stands in for the
preset's weights, so a Workspace naming any preset is served on the CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from kaito.localcluster.builtins import ImageRuntime
from kaito.serving.local_model import LOCAL_MODEL_DIR_ENV

SERVE_IMAGE_PATTERN = "ghcr.io/kaito-py/kaito-serve*"
OPERATOR_STOP_TIMEOUT_S = 20.0
# Where the operator keeps its webhook CA Secret (its default --webhook-service-namespace).
OPERATOR_NAMESPACE = "kaito-system"


class OperatorSettings(BaseModel):
    """How the daemon runs the operator; part of `cluster.json`."""

    model_config = ConfigDict(extra="forbid")

    health_port: int
    model_dir: Path


def tiny_model_dir(data_dir: Path) -> Path:
    return data_dir / "models" / "tiny"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prepare_operator(data_dir: Path) -> OperatorSettings:
    """Build the tiny model (once per data dir; blocking, imports torch) and pick the health port."""
    from kaito.serving.tinymodel import build_tiny_model

    model_dir = tiny_model_dir(data_dir)
    if not (model_dir / "config.json").is_file():
        print(f"  building the tiny CPU model (stands in for preset weights) in {model_dir} ...", flush=True)
    try:
        build_tiny_model(model_dir)
    except ImportError as error:
        raise ValueError(
            f"--with-operator builds a tiny model and serves it with vLLM: install the serving-cpu extra "
            f"(`make install`); missing: {error.name}"
        ) from None
    return OperatorSettings(health_port=free_loopback_port(), model_dir=model_dir)


def serving_images(settings: OperatorSettings) -> dict[str, ImageRuntime]:
    """The serving image as the host's `kaito serve` on the tiny model, CPU-sized."""
    kaito_bin = Path(sys.executable).parent / "kaito"
    return {
        SERVE_IMAGE_PATTERN: ImageRuntime(
            entrypoint=[str(kaito_bin)],
            executables={"kaito": str(kaito_bin)},
            env={
                LOCAL_MODEL_DIR_ENV: str(settings.model_dir),
                "VLLM_CPU_KVCACHE_SPACE": "1",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            },
        )
    }


def operator_argv(settings: OperatorSettings, kubeconfig: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kaito.cli",
        "operator",
        "--controllers=workspace,provisioner",
        "--provider=local",
        "--no-leader-elect",
        f"--kubeconfig={kubeconfig}",
        f"--health-address=127.0.0.1:{settings.health_port}",
        "--webhook-host=127.0.0.1",
        "--webhook-port=0",
        "--webhook-url-host=127.0.0.1",
        "--allow-private-urls",
        "--log-format=json",
    ]


async def install_kaito(kubeconfig: Path) -> None:
    """Create kaito's CRDs (Workspace, NodeClaim) and the operator's namespace; existing ones are kept."""
    from kubernetes_asyncio.client import ApiextensionsV1Api, CoreV1Api
    from kubernetes_asyncio.client.exceptions import ApiException
    from kubernetes_asyncio.config import new_client_from_config

    from kaito.api.crd import all_crds

    api = await new_client_from_config(config_file=str(kubeconfig))
    try:
        extensions = ApiextensionsV1Api(api)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
        bodies: list[tuple[Callable[..., Awaitable[object]], dict[str, Any]]] = [
            (extensions.create_custom_resource_definition, crd) for crd in all_crds().values()
        ]
        bodies.append((CoreV1Api(api).create_namespace, namespace))
        for create, body in bodies:
            try:
                await create(body=cast(Any, body))
            except ApiException as error:
                if error.status != 409:
                    raise
    finally:
        await api.close()


async def start_operator(
    settings: OperatorSettings, kubeconfig: Path, log_path: Path
) -> asyncio.subprocess.Process:
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            *operator_argv(settings, kubeconfig), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )


async def stop_operator(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (the operator drains), then SIGKILL after OPERATOR_STOP_TIMEOUT_S."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), OPERATOR_STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def operator_ready(settings: OperatorSettings) -> bool:
    """True when the operator's /readyz answers 200 (blocking; for `kaito local up`)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.health_port}/readyz", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _ancestors() -> set[int]:
    """This process and its parents (a shell or `make` may carry the data dir in its environment)."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def data_dir_processes(data_dir: Path) -> list[int]:
    """Live processes of a local cluster in `data_dir`: the daemon and operator (named on their command
    line) and the pods' processes with their children (`KAITO_LOCAL_POD_DIR` under it in the environment)."""
    in_cmdline = str(data_dir).encode()
    in_environ = f"KAITO_LOCAL_POD_DIR={data_dir}".encode()
    skip = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            if (
                in_cmdline in (entry / "cmdline").read_bytes()
                or in_environ in (entry / "environ").read_bytes()
            ):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found
