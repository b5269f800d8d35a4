"""Child processes in their own process groups: logs to a file; stop = SIGTERM, grace, SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path


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
