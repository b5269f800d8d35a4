"""Container termination messages as a kubelet gives them: a fresh file at terminationMessagePath per start,
read when the process exits (at most 4 KiB), or the log's tail under FallbackToLogsOnError."""

from __future__ import annotations

from pathlib import Path
from typing import Final

MAX_MESSAGE_BYTES: Final = 4096
FALLBACK_LOG_LINES: Final = 80


def fresh_message_file(path: Path) -> None:
    """An empty file for the next start of a container (the kubelet creates it before the process runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def read_message(path: Path, policy: str, log_path: Path, exit_code: int) -> str:
    """The message for the terminated state: the file's contents; with FallbackToLogsOnError and a failed,
    silent exit, the last lines of the container's log."""
    message = _tail_bytes(path, MAX_MESSAGE_BYTES)
    if message or policy != "FallbackToLogsOnError" or exit_code == 0:
        return message
    lines = _tail_bytes(log_path, MAX_MESSAGE_BYTES).splitlines()
    return "\n".join(lines[-FALLBACK_LOG_LINES:])


def _tail_bytes(path: Path, limit: int) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", errors="replace").strip()
