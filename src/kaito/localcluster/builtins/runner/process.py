"""Child processes in their own process groups: logs to a file; stop = SIGTERM, grace (movable), SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import Any


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _open_log(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


async def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> asyncio.subprocess.Process:
    """Start `argv` in a new session (so its whole group can be signalled); stdout+stderr go to `log_path`."""
    await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
    log_fd = await asyncio.to_thread(_open_log, log_path)
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(log_fd)


def signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def stop(process: asyncio.subprocess.Process, grace_s: float) -> int:
    """SIGTERM the group, wait up to `grace_s`, then SIGKILL whatever of the group is left."""
    if process.returncode is None:
        signal_group(process, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), max(grace_s, 0.0))
    signal_group(process, signal.SIGKILL)  # also reaps grandchildren that outlived the leader
    return await process.wait()


async def kill(process: asyncio.subprocess.Process) -> int:
    """SIGKILL the whole group and reap the leader."""
    signal_group(process, signal.SIGKILL)
    return await process.wait()


class KillDeadline:
    """When the processes of a stopping pod get SIGKILL; a later, shorter DELETE moves it earlier."""

    def __init__(self) -> None:
        self.at: float | None = None
        self._moved = asyncio.Event()

    def shorten(self, grace_s: float) -> None:
        at = asyncio.get_running_loop().time() + max(grace_s, 0.0)
        if self.at is None or at < self.at:
            self.at = at
            self._moved.set()

    async def wait_exit(self, processes: list[asyncio.subprocess.Process]) -> None:
        """Wait until every process has exited or the deadline (as it is then) has passed."""
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[list[int]] = asyncio.ensure_future(
            asyncio.gather(*(p.wait() for p in processes))
        )
        try:
            while not exited.done():
                self._moved.clear()
                remaining = (self.at if self.at is not None else loop.time()) - loop.time()
                if remaining <= 0:
                    return
                moved: asyncio.Future[bool] = asyncio.ensure_future(self._moved.wait())
                either: set[asyncio.Future[Any]] = {exited, moved}
                await asyncio.wait(either, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                moved.cancel()
        finally:
            exited.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await exited
