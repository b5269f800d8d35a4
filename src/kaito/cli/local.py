"""`kaito local up|down|status`: the embedded Kubernetes with simulated GPU nodes, as a background daemon."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from kaito.cli.local_stack import OperatorSettings, operator_ready, prepare_operator, serving_images
from kaito.localcluster.builtins import BuiltinsConfig, NodeSpec
from kaito.localcluster.networking.images import client_tool_images
from kaito.presets.skus import UnknownSkuError, get_sku

DEFAULT_PORT = 6443
CONTROL_NODE = "kaito-local-control-plane"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class LocalClusterSettings(BaseModel):
    """What `kaito local up` hands to the daemon (written as `cluster.json` in the data dir)."""

    model_config = ConfigDict(extra="forbid")

    port: int
    builtins: BuiltinsConfig
    operator: OperatorSettings | None = None


def default_data_dir() -> Path:
    return Path(os.environ.get("KAITO_LOCAL_DIR", Path.home() / ".kaito" / "local"))


def _files(data_dir: Path) -> dict[str, Path]:
    return {
        "pid": data_dir / "cluster.pid",
        "kubeconfig": data_dir / "kubeconfig",
        "log": data_dir / "cluster.log",
        "settings": data_dir / "cluster.json",
        "operator_log": data_dir / "operator.log",
    }


def parse_gpus(values: list[str]) -> list[tuple[str, int]]:
    """`SKU=N` (N nodes of SKU; `SKU` alone means one node)."""
    parsed = []
    for value in values:
        sku, _, count = value.partition("=")
        if not sku or (count and not count.isdigit()):
            raise ValueError(f"--gpus expects SKU=N (e.g. Standard_NC6s_v3=1), got {value!r}")
        parsed.append((sku, int(count or 1)))
    return parsed


def gpu_node_specs(requests: list[tuple[str, int]]) -> list[NodeSpec]:
    """Simulated nodes shaped like the catalog's instance types; kaito's SKU facts enter only here."""
    specs: list[NodeSpec] = [NodeSpec(name=CONTROL_NODE, instance_type="local", cpu="4", memory="16Gi")]
    for sku_name, count in requests:
        sku = get_sku(sku_name)
        prefix = re.sub(r"[^a-z0-9]+", "-", sku.name.lower()).strip("-")
        for index in range(count):
            specs.append(
                NodeSpec(
                    name=f"{prefix}-{index}",
                    instance_type=sku.name,
                    gpu_count=sku.gpu_count,
                    gpu_product=sku.gpu.product,
                    gpu_memory_mib=sku.gpu.memory_mib,
                    cpu=str(max(6 * sku.gpu_count, 4)),
                    memory=f"{max(110 * sku.gpu_count, 16)}Gi",
                    ephemeral_storage="1Ti",
                )
            )
    return specs


def builtins_config(data_dir: Path, gpus: list[tuple[str, int]], config_file: Path | None) -> BuiltinsConfig:
    """Runner settings: a `--config` YAML (any BuiltinsConfig field); its `nodes` join the `--gpus` ones."""
    fields: dict[str, Any] = {}
    if config_file is not None:
        loaded = yaml.safe_load(config_file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: expected a mapping of settings")
        fields = dict(loaded)
    fields.pop("data_dir", None)
    fields["image_commands"] = {**client_tool_images(), **(fields.get("image_commands") or {})}
    try:
        extra_nodes = [NodeSpec.model_validate(node) for node in fields.pop("nodes", None) or []]
        return BuiltinsConfig(data_dir=data_dir, nodes=[*gpu_node_specs(gpus), *extra_nodes], **fields)
    except ValidationError as error:
        raise ValueError(f"{config_file}: {error}") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("local", help="run a local Kubernetes with simulated GPU nodes")
    commands = parser.add_subparsers(dest="local_command", metavar="ACTION")
    commands.required = True

    up = commands.add_parser("up", help="start the local cluster in the background")
    up.add_argument(
        "--gpus",
        action="append",
        default=[],
        metavar="SKU=N",
        help="add N simulated nodes of a GPU instance type (repeatable)",
    )
    up.add_argument("--data-dir", type=Path, default=None, help="state, logs and kubeconfig (~/.kaito/local)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="API server port on 127.0.0.1")
    up.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML of runner settings (image_commands, unpullable_images, simulated_ready_delay_s, nodes...)",
    )
    up.add_argument(
        "--with-operator",
        action="store_true",
        help="also install kaito's CRDs and run the operator (local provider); serving pods run the host's "
        "`kaito serve` on CPU with a tiny locally built model standing in for the preset's weights",
    )
    up.set_defaults(func=run_up)

    down = commands.add_parser("down", help="stop the local cluster")
    down.add_argument("--data-dir", type=Path, default=None)
    down.set_defaults(func=run_down)

    status = commands.add_parser("status", help="is the local cluster running, and where")
    status.add_argument("--data-dir", type=Path, default=None)
    status.set_defaults(func=run_status)

    serve = commands.add_parser("serve", help="run the cluster in the foreground (what `up` starts)")
    serve.add_argument("--data-dir", type=Path, required=True)
    serve.set_defaults(func=run_serve)


def run(args: argparse.Namespace) -> int:
    result: int = args.func(args)
    return result


# -- up / down / status: plain blocking code, run in the user's shell rather than on an event loop --------


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for its reaper counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _server_url(kubeconfig: Path) -> str:
    try:
        config = yaml.safe_load(kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return "?"


def running_pid(data_dir: Path) -> int | None:
    pid_file = _files(data_dir)["pid"]
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


async def _api_answers(kubeconfig: Path) -> list[str] | None:
    """Node names when the API server answers with this kubeconfig, else None."""
    from kubernetes_asyncio.client import CoreV1Api
    from kubernetes_asyncio.config import new_client_from_config

    try:
        api = await new_client_from_config(config_file=str(kubeconfig))
    except Exception:
        return None
    try:
        nodes = await CoreV1Api(api).list_node(_request_timeout=5)
        return [node.metadata.name for node in nodes.items]
    except Exception:
        return None
    finally:
        await api.close()


def run_up(args: argparse.Namespace) -> int:
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    files = _files(data_dir)
    if (pid := running_pid(data_dir)) is not None:
        print(f"kaito local cluster already running (pid {pid})")
        print(f"export KUBECONFIG={files['kubeconfig']}")
        return 0
    try:
        builtins = builtins_config(data_dir, parse_gpus(args.gpus), args.config)
        operator = prepare_operator(data_dir) if getattr(args, "with_operator", False) else None
    except (ValueError, OSError, UnknownSkuError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    nodes = builtins.nodes
    if operator is not None:
        builtins.image_commands = {**serving_images(operator), **builtins.image_commands}
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = LocalClusterSettings(port=args.port, builtins=builtins, operator=operator)
    files["settings"].write_text(settings.model_dump_json(indent=2))
    files["kubeconfig"].unlink(missing_ok=True)
    print(f"starting the kaito local cluster in {data_dir} ...", flush=True)
    with files["log"].open("ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "kaito.cli", "local", "serve", "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    files["pid"].write_text(str(daemon.pid))
    print(f"  daemon started (pid {daemon.pid}), log {files['log']}", flush=True)
    # The operator imports the whole controller stack after the API server is up: allow it more time.
    timeout_s = START_TIMEOUT_S * (2 if operator is not None else 1)
    deadline = time.monotonic() + timeout_s
    announced = False
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            print(
                f"error: the cluster exited with code {daemon.returncode}; see {files['log']}",
                file=sys.stderr,
            )
            files["pid"].unlink(missing_ok=True)
            return 1
        if files["kubeconfig"].exists():
            if not announced:
                print(f"  kubeconfig written to {files['kubeconfig']}", flush=True)
                announced = True
            names = asyncio.run(_api_answers(files["kubeconfig"]))
            if (
                names is not None
                and all(node.name in names for node in nodes)
                and (operator is None or operator_ready(operator))
            ):
                url = _server_url(files["kubeconfig"])
                print(f"  API server answering at {url}; nodes: {', '.join(sorted(names))}", flush=True)
                print(f"export KUBECONFIG={files['kubeconfig']}")
                return 0
        time.sleep(0.3)
    print(
        f"error: the cluster did not answer within {timeout_s:.0f}s; see {files['log']}",
        file=sys.stderr,
    )
    _stop_daemon(daemon.pid)
    files["pid"].unlink(missing_ok=True)
    return 1


def _stop_daemon(pid: int) -> bool:
    """SIGTERM the daemon's process group, wait, then SIGKILL what is left. True when it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return not _pid_alive(pid)


def run_down(args: argparse.Namespace) -> int:
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    files = _files(data_dir)
    pid = running_pid(data_dir)
    if pid is None:
        files["pid"].unlink(missing_ok=True)
        print("kaito local cluster is not running")
        return 0
    print(f"stopping the kaito local cluster (pid {pid}) ...", flush=True)
    stopped = _stop_daemon(pid)
    files["pid"].unlink(missing_ok=True)
    print("stopped" if stopped else f"error: pid {pid} did not exit")
    return 0 if stopped else 1


def run_status(args: argparse.Namespace) -> int:
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    files = _files(data_dir)
    pid = running_pid(data_dir)
    if pid is None:
        print(f"kaito local cluster: stopped (data dir {data_dir})")
        return 1
    names = asyncio.run(_api_answers(files["kubeconfig"])) if files["kubeconfig"].exists() else None
    state = "running" if names is not None else "starting (API not answering yet)"
    url = _server_url(files["kubeconfig"])
    print(f"kaito local cluster: {state} at {url} (pid {pid}, data dir {data_dir})")
    if names is not None:
        print(f"nodes: {', '.join(sorted(names))}")
    print(f"export KUBECONFIG={files['kubeconfig']}")
    return 0 if names is not None else 3


# -- serve: the daemon itself -----------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    from kaito.cli.logs import configure_logging

    configure_logging(os.environ.get("KAITO_LOG_LEVEL", "info"), json=True)
    data_dir: Path = args.data_dir.resolve()
    settings = LocalClusterSettings.model_validate_json(_files(data_dir)["settings"].read_text())
    asyncio.run(_serve(settings, _files(data_dir)["kubeconfig"]))
    return 0


async def _serve(settings: LocalClusterSettings, kubeconfig: Path) -> None:
    from kaito.cli.local_stack import install_kaito, start_operator, stop_operator
    from kaito.localcluster.builtins import BuiltinControllers
    from kaito.localcluster.cluster import Component, LocalCluster
    from kaito.localcluster.networking import Networking

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    data_dir = settings.builtins.data_dir
    components: list[Component] = [BuiltinControllers(settings.builtins), Networking()]
    cluster = LocalCluster(data_dir, port=settings.port, components=components)
    operator: asyncio.subprocess.Process | None = None
    try:
        await cluster.start()
        if cluster.kubeconfig_path != kubeconfig:
            raise RuntimeError(f"kubeconfig expected at {kubeconfig}, written to {cluster.kubeconfig_path}")
        if settings.operator is not None:
            await install_kaito(kubeconfig)
            operator = await start_operator(settings.operator, kubeconfig, _files(data_dir)["operator_log"])
        print(
            json.dumps({"event": "local.ready", "url": cluster.url, "kubeconfig": str(kubeconfig)}),
            flush=True,
        )
        await stop.wait()
    finally:
        if operator is not None:
            await stop_operator(operator)
        await cluster.stop()
