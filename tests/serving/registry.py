"""A real OCI registry for tests: Debian's `docker-registry` on 127.0.0.1, optionally behind htpasswd auth."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REGISTRY_BINARY = shutil.which("docker-registry") or shutil.which("registry")
HTPASSWD_BINARY = shutil.which("htpasswd")
MISSING_REASON = "docker-registry is not installed (apt-get install docker-registry apache2-utils)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningRegistry:
    host: str
    process: subprocess.Popen[bytes]
    username: str = ""
    password: str = ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(
    workdir: Path, username: str = "", password: str = "", extra_config: str = ""
) -> RunningRegistry:
    """Start a registry storing under `workdir`; with a username, every request needs Basic auth."""
    assert REGISTRY_BINARY is not None, MISSING_REASON
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        "version: 0.1",
        "log: {level: error, accesslog: {disabled: true}}",
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'data'}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: 127.0.0.1:{port}, secret: kaito-test-secret}}",
    ]
    if username:
        assert HTPASSWD_BINARY is not None, "htpasswd is not installed (apt-get install apache2-utils)"
        entry = subprocess.run(
            [HTPASSWD_BINARY, "-Bbn", username, password], check=True, capture_output=True, text=True
        ).stdout.strip()
        (workdir / "htpasswd").write_text(entry + "\n")
        lines.append(f"auth: {{htpasswd: {{realm: kaito-test, path: {workdir / 'htpasswd'}}}}}")
    if extra_config:
        lines.append(extra_config)
    (workdir / "config.yml").write_text("\n".join(lines) + "\n")
    with (workdir / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(workdir / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"registry exited: {(workdir / 'registry.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{host}/v2/", timeout=1).status_code in (200, 401):
                return RunningRegistry(host, process, username, password)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("registry did not answer within 30 s")
