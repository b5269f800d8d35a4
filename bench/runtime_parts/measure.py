"""Measuring the operators in the runtime bench: their processes (/proc CPU and RSS) and what they wrote."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from kaito.controllers.client import KubeClient

from .operators import WIDGETS

OPERATORS = Path(__file__).resolve().parent / "operators.py"
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def proc_rss_mb(pid: int, key: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Operator:
    """One operator process: started, waited for READY, measured via /proc, stopped by closing stdin."""

    def __init__(self, impl: str, kubeconfig: Path, namespace: str, kopf_python: str | None) -> None:
        self.impl = impl
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.kopf_python = kopf_python
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        if self.impl == "kopf" or self.impl == "kopf-status":
            assert self.kopf_python is not None
            script = Path(tempfile.gettempdir()) / "kaito-bench-kopf-operator.py"
            script.write_text((await _run_capture(sys.executable, str(OPERATORS), "kopf-script")).decode())
            args = [self.kopf_python, "-m", "kopf", "run", "--standalone", "-n", self.namespace, str(script)]
            if self.impl == "kopf-status":
                env["KAITO_BENCH_KOPF_STATUS"] = "1"
        else:
            args = [sys.executable, str(OPERATORS), self.impl]
            args += ["--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace]
        log = Path(tempfile.gettempdir()) / "kaito-bench-logs"
        log.mkdir(exist_ok=True)
        stderr = os.open(log / f"{self.impl}-{self.namespace}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env
            )
        finally:
            os.close(stderr)
        assert self.process.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.impl} exited before it was ready")
                if line.strip() == b"READY":
                    break

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def _run_capture(*args: str) -> bytes:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    return out


class Observer:
    """Watches the namespace: end-to-end latency per change and the writes nobody but the operator made.

    Level-triggered: a change counts as handled once ``status.observed`` shows it *or a later value* of
    the same object (values only grow per object), so an operator that coalesces changes is not penalised.
    """

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.latencies: list[float] = []
        self.events = 0
        self.driver_writes = 0
        self.waiting: dict[str, dict[int, float | None]] = {}  # name -> value -> when it was written
        self.last_done = 0.0
        self._task: asyncio.Task[None] | None = None
        self._resource_version = ""

    @property
    def pending(self) -> int:
        return sum(len(values) for values in self.waiting.values())

    async def start(self) -> None:
        listing = await self.kube.list(WIDGETS, self.namespace)
        self._resource_version = listing["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            stream = self.kube.watch(WIDGETS, self.namespace, resource_version=self._resource_version)
            async for event in stream:
                obj = event["object"]
                self._resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":
                    continue
                self.events += 1
                observed = (obj.get("status") or {}).get("observed")
                values = self.waiting.get(obj["metadata"]["name"])
                if observed is None or not values:
                    continue
                now = time.monotonic()
                for value in [v for v in values if v <= observed]:
                    sent_at = values.pop(value)
                    self.last_done = now
                    if sent_at is not None:
                        self.latencies.append(now - sent_at)

    def expect(self, name: str, value: int, sent_at: float | None) -> None:
        self.waiting.setdefault(name, {})[value] = sent_at

    async def drained(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while self.pending and time.monotonic() < deadline:  # noqa: ASYNC110 - polling plain state
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let trailing (extra) writes show up in the count
        return not self.pending

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
