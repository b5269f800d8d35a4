"""One pod on a simulated node: volumes, ports, init then main containers (processes or simulated), status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from kaito.localcluster.builtins.client import PODS, KubeClient, is_status
from kaito.localcluster.builtins.config import BuiltinsConfig, ImageRuntime
from kaito.localcluster.builtins.events import EventRecorder
from kaito.localcluster.builtins.informer import Informer, Obj
from kaito.localcluster.builtins.names import LOG_DIR_ANNOTATION, POD_DIR_ANNOTATION, POD_IP, port_annotation
from kaito.localcluster.builtins.objects import Container, parse_pod
from kaito.localcluster.builtins.runner import process
from kaito.localcluster.builtins.runner.environment import ConfigError, SourceReader
from kaito.localcluster.builtins.runner.launch import plan_launch
from kaito.localcluster.builtins.runner.probes import ProbeTarget, run_probe
from kaito.localcluster.builtins.runner.records import ContainerRecord, now_stamp, pod_conditions, pod_phase
from kaito.localcluster.builtins.runner.termination import read_message
from kaito.localcluster.builtins.runner.volumes import PodLayout, materialize

log = structlog.get_logger(__name__)


@dataclass
class RunnerContext:
    client: KubeClient
    config: BuiltinsConfig
    session: aiohttp.ClientSession
    pods: Informer
    events: EventRecorder


class PodWorker:
    """Drives one pod's containers and reports its status, until the pod is deleted or the runner stops."""

    def __init__(self, ctx: RunnerContext, raw: Obj) -> None:
        self.ctx = ctx
        self.raw = raw
        self.pod = parse_pod(raw)
        self.layout = PodLayout(ctx.config.data_dir, self.pod)
        self.inits = [ContainerRecord(c.name, c.image, init=True) for c in self.pod.spec.init_containers]
        self.mains = [ContainerRecord(c.name, c.image) for c in self.pod.spec.containers]
        for record in self.mains if self.inits else []:
            record.wait("PodInitializing")
        self.init_failed = False
        self.terminating = False
        self.host_ports: dict[int, int] = {}
        self.volume_paths: dict[str, Path] = {}
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.kill_reasons: dict[str, str] = {}
        self.kill_deadline = process.KillDeadline()  # set once the pod is being deleted
        self.start_time = now_stamp()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._kills: list[asyncio.Task[int]] = []

    @property
    def name(self) -> str:
        return f"{self.pod.metadata.name}_{self.pod.metadata.namespace}({self.pod.metadata.uid})"

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._write_status_loop())]

    def update(self, raw: Obj) -> None:
        self.raw = raw

    def is_terminating(self) -> bool:
        return self.terminating

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        record = self.ctx.events.warning if warning else self.ctx.events.normal
        record(self.raw, reason, message, "kubelet")

    def changed(self) -> None:
        self._dirty.set()

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._prepare()
            for container, record in zip(self.pod.spec.init_containers, self.inits, strict=True):
                if not await self._run_container(container, record):
                    return
            await asyncio.gather(
                *(
                    self._run_container(c, r)
                    for c, r in zip(self.pod.spec.containers, self.mains, strict=True)
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod.worker_failed", pod=self.name)

    async def _prepare(self) -> None:
        reader = SourceReader(self.ctx.client, self.pod.metadata.namespace)
        while True:
            try:
                self.volume_paths = await materialize(self.layout, self.pod.spec.volumes, reader)
                break
            except ConfigError as error:
                for record in self.inits or self.mains:
                    record.wait("ContainerCreating", str(error))
                self.changed()
                reader = SourceReader(self.ctx.client, self.pod.metadata.namespace)
                await asyncio.sleep(1.0)
        annotations = {
            LOG_DIR_ANNOTATION: os.fspath(self.layout.logs),
            POD_DIR_ANNOTATION: os.fspath(self.layout.root),
        }
        for container in self.pod.spec.containers:
            if self.ctx.config.runtime_for(container.image) is None:
                continue
            for port in container.ports:
                self.host_ports[port.container_port] = process.free_loopback_port()
                annotations[port_annotation(port.container_port)] = str(self.host_ports[port.container_port])
        meta = self.pod.metadata
        patched = await self.ctx.client.patch(
            PODS, meta.namespace, meta.name, {"metadata": {"annotations": annotations}}
        )
        self.ctx.pods.observe(patched)

    async def _run_container(self, container: Container, record: ContainerRecord) -> bool:
        """Run until the container is done for good; True when it completed successfully (init containers)."""
        config = self.ctx.config
        runtime = config.runtime_for(container.image)
        pulls = 0
        while not self.terminating:
            if config.is_unpullable(container.image):
                pulls += 1
                failure = f'failed to pull and unpack image "{container.image}": not found'
                self.event("Pulling", f'Pulling image "{container.image}"')
                self.event("Failed", f'Failed to pull image "{container.image}": {failure}', warning=True)
                record.wait("ErrImagePull", failure)
                self.changed()
                await asyncio.sleep(min(config.restart_backoff_base_s, 1.0))
                record.wait("ImagePullBackOff", f'Back-off pulling image "{container.image}"')
                self.event("BackOff", f'Back-off pulling image "{container.image}"', warning=True)
                self.changed()
                await asyncio.sleep(
                    min(config.restart_backoff_base_s * 2**pulls, config.restart_backoff_max_s)
                )
                continue
            self.event("Pulled", f'Container image "{container.image}" already present on machine')
            if runtime is None:
                await self._simulate(container, record)
                return True
            exit_code = await self._run_process(container, record, runtime)
            if exit_code is None:  # configuration not ready yet
                await asyncio.sleep(1.0)
                continue
            if self.is_terminating():
                return False
            if record.init and exit_code == 0:
                self.changed()
                return True
            policy = self.pod.spec.restart_policy
            if policy == "Never" or (policy == "OnFailure" and exit_code == 0):
                if record.init:
                    self.init_failed = True
                self.changed()
                return exit_code == 0
            backoff = 0.0
            if record.restart_count > 0:
                backoff = min(
                    config.restart_backoff_base_s * 2 ** (record.restart_count - 1),
                    config.restart_backoff_max_s,
                )
            record.remember_termination()
            if backoff > 0:
                message = f"back-off {backoff:g}s restarting failed container={record.name} pod={self.name}"
                record.wait("CrashLoopBackOff", message)
                self.event(
                    "BackOff",
                    f"Back-off restarting failed container {record.name} in pod {self.name}",
                    warning=True,
                )
                self.changed()
                await asyncio.sleep(backoff)
        return False

    async def _simulate(self, container: Container, record: ContainerRecord) -> None:
        delay = self.ctx.config.simulated_ready_delay_s
        await asyncio.sleep(delay / 2 if record.init else delay)
        log_path = self.layout.log_file(container.name, record.restart_count)
        line = (
            f"simulated container {container.name} (image {container.image}) on {self.pod.spec.node_name}\n"
        )
        await asyncio.to_thread(_append, log_path, line)
        self.event("Created", f"Created container {container.name}")
        record.run(f"simulated://{self.pod.metadata.uid}/{container.name}")
        self.event("Started", f"Started container {container.name}")
        record.started = True
        if record.init:
            record.terminate(0)
        else:
            record.ready = True
        self.changed()
        if not record.init:
            await asyncio.Event().wait()  # a simulated container runs until the pod goes away

    async def _run_process(
        self, container: Container, record: ContainerRecord, runtime: ImageRuntime
    ) -> int | None:
        try:
            plan = await plan_launch(
                self.ctx.client, self.pod, container, runtime, self.layout, self.volume_paths, self.host_ports
            )
        except ConfigError as error:
            record.wait("CreateContainerConfigError", str(error))
            self.event("Failed", f"Error: {error}", warning=True)
            self.changed()
            return None
        log_path = self.layout.log_file(container.name, record.restart_count)
        try:
            child = await process.spawn(plan.argv, plan.env, plan.cwd, log_path)
        except OSError as error:
            record.terminate(128, "StartError", f"failed to start {plan.argv[0]!r}: {error}")
            self.changed()
            return 128
        self.processes[container.name] = child
        self.event("Created", f"Created container {container.name}")
        record.run(f"local://{child.pid}")
        self.event("Started", f"Started container {container.name}")
        self.changed()
        target = ProbeTarget(container, self.host_ports, plan.env, os.fspath(plan.cwd), plan.pod_argv)
        probes = asyncio.create_task(self._probe(container, record, target, child))
        try:
            exit_code = await child.wait()
        finally:
            probes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probes
            process.signal_group(child, signal.SIGKILL)
            self.processes.pop(container.name, None)
        reason = self.kill_reasons.pop(container.name, None)
        code = 128 - exit_code if exit_code < 0 else exit_code
        policy = container.termination_message_policy
        message = await asyncio.to_thread(read_message, plan.termination_file, policy, log_path, code)
        record.terminate(code, reason, message)
        self.changed()
        return record.exit_code

    async def _probe(
        self,
        container: Container,
        record: ContainerRecord,
        target: ProbeTarget,
        child: asyncio.subprocess.Process,
    ) -> None:
        session, scale = self.ctx.session, self.ctx.config.probe_time_scale
        if record.init:
            return
        if container.startup_probe is not None:
            started = asyncio.Event()

            def on_startup(ok: bool) -> bool:
                if ok:
                    started.set()
                else:
                    self.event("Unhealthy", "Startup probe failed", warning=True)
                    self._kill(container.name, child, "Error")
                return False

            await run_probe(container.startup_probe, target, session, scale, on_startup)
            await started.wait()
        record.started = True
        self.changed()

        def on_ready(ok: bool) -> bool:
            if not ok:
                self.event("Unhealthy", "Readiness probe failed", warning=True)
            record.ready = ok
            self.changed()
            return True

        def on_alive(ok: bool) -> bool:
            if not ok:
                self.event("Unhealthy", "Liveness probe failed", warning=True)
                self.event("Killing", f"Container {container.name} failed liveness probe, will be restarted")
                self._kill(container.name, child, "Error")
            return ok

        tasks = []
        if container.readiness_probe is not None:
            tasks.append(run_probe(container.readiness_probe, target, session, scale, on_ready))
        else:
            on_ready(True)
        if container.liveness_probe is not None:
            tasks.append(run_probe(container.liveness_probe, target, session, scale, on_alive))
        await asyncio.gather(*tasks)

    def _kill(self, name: str, child: asyncio.subprocess.Process, reason: str) -> None:
        self.kill_reasons[name] = reason
        grace = float(self.pod.spec.termination_grace_period_seconds)
        task = asyncio.create_task(process.stop(child, grace))
        self._kills.append(task)

    # -- status ---------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        phase = pod_phase(self.inits, self.mains, self.init_failed)
        previous = self.raw.get("status", {}).get("conditions", []) or []
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": pod_conditions(previous, self.inits, self.mains, phase),
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": self.start_time,
            "containerStatuses": [record.to_status() for record in self.mains],
        }
        if self.inits:
            status["initContainerStatuses"] = [record.to_status() for record in self.inits]
        return status

    async def _write_status_loop(self) -> None:
        self.changed()
        meta = self.pod.metadata
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.01)  # coalesce bursts of changes into one write
            self._dirty.clear()
            try:
                body = {"status": self.status()}
                patched = await self.ctx.client.patch(PODS, meta.namespace, meta.name, body, sub="status")
                self.ctx.pods.observe(patched)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_status(error, 404):
                    return
                log.info("pod.status_write_failed", pod=self.name, error=repr(error))
                await asyncio.sleep(0.5)
                self._dirty.set()

    # -- termination ----------------------------------------------------------------------------------------

    async def terminate(self, grace_s: float, delete_object: bool) -> None:
        """Stop every container (SIGTERM, grace, SIGKILL); if the pod object is still there, report the
        final container states and remove it (delete with grace 0), as a kubelet does."""
        self.terminating = True
        self.kill_deadline.shorten(grace_s)
        running = dict(self.processes)
        for name, child in running.items():
            self.event("Killing", f"Stopping container {name}")
            if child.returncode is None:
                process.signal_group(child, signal.SIGTERM)
        await self.kill_deadline.wait_exit(list(running.values()))
        codes = await asyncio.gather(*(process.kill(child) for child in running.values()))
        for task in [*self._tasks, *self._kills]:
            task.cancel()
        for task in [*self._tasks, *self._kills]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        exits = {name: 128 - code if code < 0 else code for name, code in zip(running, codes, strict=True)}
        for record in [*self.inits, *self.mains]:
            if record.state == "running":
                record.terminate(exits.get(record.name, 0))
        meta = self.pod.metadata
        if delete_object:
            try:
                body = {"status": self.status()}
                await self.ctx.client.patch(PODS, meta.namespace, meta.name, body, sub="status")
                await self.ctx.client.delete(
                    PODS, meta.namespace, meta.name, grace_period_seconds=0, uid=meta.uid
                )
            except Exception as error:
                if not is_status(error, 404, 409):
                    log.warning("pod.delete_failed", pod=self.name, error=repr(error))
        await self.layout.remove()


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(text)
