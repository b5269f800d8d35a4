"""`kaito demo`: the README walkthrough end to end on the local cluster, with kubectl, then torn down.

A tiny locally built model stands in for the preset's weights, so the whole path (Workspace -> NodeClaim ->
simulated GPU node -> StatefulSet -> `kaito serve` with vLLM on CPU -> Service) runs on a laptop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from kaito.cli.local_stack import data_dir_processes, free_loopback_port

WORKSPACE = "workspace-phi-3-mini"
PRESET = "phi-3-mini-4k-instruct"
EXAMPLE = Path("examples/inference/kaito_workspace_phi_3.yaml")
# The walkthrough's manifest, for runs outside a checkout (same content as EXAMPLE).
MANIFEST = f"""apiVersion: kaito.sh/v1alpha1
kind: Workspace
metadata:
  name: {WORKSPACE}
resource:
  instanceType: "Standard_NC6s_v3"
  labelSelector:
    matchLabels:
      apps: phi-3
inference:
  preset:
    name: {PRESET}
"""
QUESTION = "What is kubernetes?"
MAX_TOKENS = 24
POLL_S = 2.0
REQUEST_TIMEOUT_S = 60.0
LEFTOVER_WAIT_S = 15.0


class DemoFailed(Exception):
    """A step failed; the message says which and where to look."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the README walkthrough on a local cluster with a tiny CPU model, then tear down"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("KAITO_DEMO_DIR", Path.home() / ".kaito" / "demo")),
        help="the demo's own directory (wiped at start except the built model; default ~/.kaito/demo)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for WORKSPACEREADY")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running at the end")
    parser.set_defaults(func=run)


class Demo:
    """The walkthrough's steps; each prints what it runs and what came back."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.kubeconfig = data_dir / "kubeconfig"
        self.bin = Path(sys.executable).parent
        kubectl = self.bin / "kubectl"
        self.kubectl = str(kubectl) if kubectl.exists() else (shutil.which("kubectl") or "kubectl")
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"\n==> {name}", flush=True)
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - started))

    def kaito(self, *args: str) -> int:
        return subprocess.run([sys.executable, "-m", "kaito.cli", *args], check=False).returncode

    def kubectl_run(self, *args: str, show: bool = True, stdin: str | None = None) -> str:
        if show:
            print(f"$ kubectl {' '.join(args)}", flush=True)
        result = subprocess.run(
            [self.kubectl, *args],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DemoFailed(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        if show and result.stdout.strip():
            print(result.stdout.rstrip(), flush=True)
        return result.stdout

    def clean_start(self) -> None:
        """Stop a cluster left from an earlier run and wipe its state; the built tiny model is kept."""
        if (self.data_dir / "cluster.pid").exists():
            self.kaito("local", "down", "--data-dir", str(self.data_dir))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for entry in self.data_dir.iterdir():
            if entry.name == "models":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def up(self) -> None:
        port = str(free_loopback_port())
        code = self.kaito("local", "up", "--with-operator", "--data-dir", str(self.data_dir), "--port", port)
        if code != 0:
            raise DemoFailed(f"`kaito local up` exited {code}; see {self.data_dir}/cluster.log")

    def apply(self) -> None:
        manifest = EXAMPLE if EXAMPLE.is_file() else self.data_dir / "kaito_workspace_phi_3.yaml"
        if manifest != EXAMPLE:
            manifest.write_text(MANIFEST)
        self.kubectl_run("apply", "-f", str(manifest))

    def wait_ready(self, timeout: float) -> None:
        print(f"$ kubectl get workspace {WORKSPACE}   (repeated until WORKSPACEREADY is True)", flush=True)
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            table = self.kubectl_run("get", "workspace", WORKSPACE, show=False).rstrip()
            header, _, row = table.partition("\n")
            columns = dict(zip(header.split(), row.split(), strict=False))
            state = " ".join(row.split()[:-1])  # without AGE
            if state != shown:
                print(table if not shown else row, flush=True)
                shown = state
            if columns.get("WORKSPACEREADY") == "True":
                return
            time.sleep(POLL_S)
        pods = self.kubectl_run("get", "pods", "-o", "wide", show=False)
        raise DemoFailed(f"WORKSPACEREADY not True within {timeout:.0f}s; pods:\n{pods}")

    def ask(self) -> dict[str, str]:
        self.kubectl_run("get", "svc", WORKSPACE)
        cluster_ip = self.kubectl_run("get", "svc", WORKSPACE, "-o", "jsonpath={.spec.clusterIP}", show=False)
        chat = {
            "model": PRESET,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": MAX_TOKENS,
        }
        legacy = {"prompt": QUESTION, "generate_kwargs": {"max_new_tokens": MAX_TOKENS}}
        answers: dict[str, str] = {}
        for path, body in (("/v1/chat/completions", chat), ("/chat", legacy)):
            print(
                f"$ curl -X POST http://{cluster_ip}{path} -H 'Content-Type: application/json' "
                f"-d '{json.dumps(body)}'",
                flush=True,
            )
            reply = self.post(cluster_ip, path, body)
            answer = (
                reply["choices"][0]["message"]["content"] if path.startswith("/v1") else str(reply["Result"])
            )
            print(f"answer: {answer!r}", flush=True)
            answers[path] = answer
        return answers

    def post(self, cluster_ip: str, path: str, body: dict[str, Any]) -> Any:
        """To the ClusterIP (the local service proxy); through the API server's proxy if unreachable."""
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{cluster_ip}:80{path}", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:
            raise DemoFailed(
                f"POST {path} answered {error.code}: {error.read().decode(errors='replace')}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            print(f"  ClusterIP not reachable ({error}); using the API server's service proxy", flush=True)
        raw = f"/api/v1/namespaces/default/services/{WORKSPACE}:80/proxy{path}"
        return json.loads(self.kubectl_run("create", "--raw", raw, "-f", "-", stdin=data.decode()))

    def down(self) -> list[int]:
        self.kaito("local", "down", "--data-dir", str(self.data_dir))
        deadline = time.monotonic() + LEFTOVER_WAIT_S
        while (left := data_dir_processes(self.data_dir)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return left


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    # Ctrl-C and `kill` both end the walkthrough through the same teardown (also where SIGINT was ignored).
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    demo = Demo(args.data_dir.resolve())
    print("kaito demo: the README walkthrough on an embedded local cluster (CPU only).")
    print(
        f"NOTE: a tiny locally built model (random weights, 2 layers) stands in for the {PRESET} weights "
        "on CPU, so the answers are gibberish; everything else is the real path."
    )
    answers: dict[str, str] = {}
    failure: str | None = None
    try:
        with demo.phase("kaito local up --with-operator (API server, controllers, operator, tiny model)"):
            demo.clean_start()
            demo.up()
        with demo.phase("kubectl apply -f examples/inference/kaito_workspace_phi_3.yaml"):
            demo.apply()
        with demo.phase("wait for the Workspace (NodeClaim -> GPU node -> vLLM on CPU)"):
            demo.wait_ready(args.timeout)
        with demo.phase("call the Service: /v1/chat/completions and /chat"):
            answers = demo.ask()
    except DemoFailed as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted"
    except (KeyError, IndexError, ValueError) as error:
        failure = f"unexpected answer from the Service: {error!r}"
    finally:
        if args.keep and failure is None:
            print(
                f"\nthe cluster keeps running: export KUBECONFIG={demo.kubeconfig}; kaito local down "
                f"--data-dir {demo.data_dir}"
            )
            left: list[int] = []
        else:
            # A second Ctrl-C must not cut the teardown short and leave the cluster running.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with demo.phase("kaito local down"):
                left = demo.down()
    print("\nphase timings:")
    for name, seconds in demo.timings:
        print(f"  {seconds:7.1f}s  {name}")
    for path, answer in answers.items():
        print(f"answer from {path}: {answer!r}")
    if left:
        failure = failure or f"processes still running after `kaito local down`: {left}"
    if failure is not None or len(answers) != 2:
        print(f"kaito demo FAILED: {failure}", file=sys.stderr)
        return 1
    print("kaito demo: OK")
    return 0
