"""`kubectl logs` for pods the runner ran: reads `<log-dir>/<container>/<restartCount>.log` files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kaito.localcluster.builtins.informer import Obj
from kaito.localcluster.builtins.names import LOG_DIR_ANNOTATION


def _read(path: Path, tail_lines: int | None, limit_bytes: int | None) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    if tail_lines is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


async def read_pod_log(pod: Obj, query: dict[str, str]) -> str:
    """The log of one container run (`container`, `previous`, `tailLines`, `limitBytes` as in the API)."""
    log_dir = pod.get("metadata", {}).get("annotations", {}).get(LOG_DIR_ANNOTATION)
    if not log_dir:
        return ""
    containers = [c.get("name", "") for c in pod.get("spec", {}).get("containers", [])]
    name = query.get("container") or (containers[0] if containers else "")
    status = pod.get("status", {})
    statuses = [*status.get("containerStatuses", []), *status.get("initContainerStatuses", [])]
    restarts = next((int(s.get("restartCount", 0)) for s in statuses if s.get("name") == name), 0)
    if query.get("previous") in ("true", "1", "True"):
        restarts -= 1
    if restarts < 0:
        return ""
    path = Path(log_dir) / name / f"{restarts}.log"
    return await asyncio.to_thread(_read, path, _int(query.get("tailLines")), _int(query.get("limitBytes")))
