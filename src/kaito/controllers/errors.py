"""API errors as exceptions, one class per status the runtime reacts to."""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A non-2xx answer from the API server, with its metav1.Status fields."""

    def __init__(self, status: int, reason: str = "", message: str = "", body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    """409: a stale resourceVersion (reason Conflict) or a create of an existing name (AlreadyExists)."""


class GoneError(ApiError):
    """410: the requested resourceVersion is too old (watch expired, continue token expired)."""


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFoundError, 409: ConflictError, 410: GoneError}


def api_error(status: int, payload: bytes) -> ApiError:
    """Build the right :class:`ApiError` subclass from a status code and a (maybe JSON) body."""
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = payload.decode("utf-8", "replace")
    reason = message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
    elif isinstance(body, str):
        message = body[:500]
    return _BY_STATUS.get(status, ApiError)(status, reason, message, body)


def is_already_exists(error: BaseException) -> bool:
    return isinstance(error, ConflictError) and error.reason == "AlreadyExists"
