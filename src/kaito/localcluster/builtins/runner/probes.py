"""Readiness, liveness and startup probes (httpGet, tcpSocket, exec) against a container's mapped ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from kaito.localcluster.builtins.objects import Container, Probe


@dataclass
class ProbeTarget:
    """How to reach a container: its ports mapped to loopback ports, its env and working dir for exec."""

    container: Container
    host_ports: dict[int, int]
    env: dict[str, str]
    cwd: str
    exec_argv: Callable[[list[str]], list[str]]

    def port(self, port: int | str) -> int:
        if isinstance(port, str) and not port.isdigit():
            named = next((p.container_port for p in self.container.ports if p.name == port), None)
            if named is None:
                raise ValueError(f"no container port named {port!r}")
            port = named
        number = int(port)
        return self.host_ports.get(number, number)


async def probe_once(probe: Probe, target: ProbeTarget, session: aiohttp.ClientSession) -> bool:
    timeout = max(probe.timeout_seconds, 1)
    try:
        if probe.http_get is not None:
            scheme = probe.http_get.scheme.lower()
            url = f"{scheme}://127.0.0.1:{target.port(probe.http_get.port)}{probe.http_get.path or '/'}"
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout), ssl=False) as response:
                return 200 <= response.status < 400
        if probe.tcp_socket is not None:
            connect = asyncio.open_connection("127.0.0.1", target.port(probe.tcp_socket.port))
            _, writer = await asyncio.wait_for(connect, timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        if probe.exec_ is not None and probe.exec_.command:
            process = await asyncio.create_subprocess_exec(
                *target.exec_argv(probe.exec_.command),
                env=target.env,
                cwd=target.cwd,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                return await asyncio.wait_for(process.wait(), timeout) == 0
            except TimeoutError:
                process.kill()
                await process.wait()
                return False
    except (OSError, TimeoutError, aiohttp.ClientError, ValueError):
        return False
    return True


async def run_probe(
    probe: Probe,
    target: ProbeTarget,
    session: aiohttp.ClientSession,
    time_scale: float,
    on_result: Callable[[bool], bool],
) -> None:
    """Probe every period; `on_result(state)` is called when the thresholded state flips and returns
    False to stop probing (e.g. a startup probe that succeeded). The first result counts from `False`."""
    await asyncio.sleep(probe.initial_delay_seconds * time_scale)
    state = False
    successes = failures = 0
    first = True
    while True:
        ok = await probe_once(probe, target, session)
        successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
        flipped = None
        if not state and successes >= max(probe.success_threshold, 1):
            flipped = True
        elif (state or first) and failures >= max(probe.failure_threshold, 1):
            flipped = False
        if flipped is not None:
            state = flipped
            first = False
            if not on_result(flipped):
                return
        await asyncio.sleep(max(probe.period_seconds, 1) * time_scale)
