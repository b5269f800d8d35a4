"""``pods/log?follow=true``: streams a runner container's log file as it grows, until that run ends.

The runner's layout is its published contract: ``<annotation log-dir>/<container>/<restartCount>.log``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kaito.localcluster.builtins.names import LOG_DIR_ANNOTATION

Obj = dict[str, Any]
POLL_S = 0.2
_CHUNK = 256 * 1024


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(_CHUNK)
    except OSError:
        return b""


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    if lines <= 0:
        return b""
    return b"".join(data.splitlines(keepends=True)[-lines:])


def _status(pod: Obj, container: str) -> Obj:
    status = pod.get("status") or {}
    statuses = [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]
    return next((s for s in statuses if s.get("name") == container), {})


def _run_over(pod: Obj | None, container: str, restarts: int) -> bool:
    """The followed run is over: the pod is gone, the container restarted, or it terminated."""
    if pod is None:
        return True
    status = _status(pod, container)
    if str(status.get("containerID") or "").startswith("simulated://"):
        return True  # a simulated container never writes more than its one line
    if int(status.get("restartCount", 0)) != restarts:
        return True
    return bool((status.get("state") or {}).get("terminated"))


async def follow_log(request: web.Request, current_pod: Callable[[], Obj | None]) -> web.StreamResponse:
    """Serve the current run's log (``container``, ``tailLines``) and keep sending what it appends."""
    pod = current_pod()
    query = request.query
    log_dir = ((pod or {}).get("metadata") or {}).get("annotations", {}).get(LOG_DIR_ANNOTATION)
    if pod is None or not log_dir:
        return web.Response(text="", content_type="text/plain")  # a simulated container logs nothing
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    container = query.get("container") or (containers[0] if containers else "")
    restarts = int(_status(pod, container).get("restartCount", 0))
    path = Path(log_dir) / container / f"{restarts}.log"
    tail = query.get("tailLines", "")
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    try:
        data = await asyncio.to_thread(path.read_bytes) if path.exists() else b""
        offset = len(data)
        await response.write(_tail(data, int(tail) if tail.lstrip("-").isdigit() else None))
        while True:
            data = await asyncio.to_thread(_read_from, path, offset)
            if data:
                offset += len(data)
                await response.write(data)
                continue
            if _run_over(current_pod(), container, restarts):
                data = await asyncio.to_thread(_read_from, path, offset)
                if not data:
                    break
                offset += len(data)
                await response.write(data)
                continue
            await asyncio.sleep(POLL_S)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped following
    return response
