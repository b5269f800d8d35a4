"""Streams a watch as newline-delimited JSON events with bookmarks, timeouts and 410 on expired versions."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kaito.localcluster.apiserver.errors import bad_request, failure_status
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.selectors import FieldSelector, LabelSelector
from kaito.localcluster.apiserver.storage import Obj, Storage, WatchEvent, encode_json
from kaito.localcluster.apiserver.watch import Watcher

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# Close reason that resets the connection instead of ending the stream cleanly (a server crash/restart).
ABORT = "abort"
# (event type, object as the client sees it) -> JSON line; tables and metadata-only watches plug in here.
Render = Callable[[str, Obj], Any]


class WatchSettings:
    """Server-wide watch tunables."""

    def __init__(self, bookmark_interval: float = 30.0, default_timeout: float = 1800.0) -> None:
        self.bookmark_interval = bookmark_interval
        self.default_timeout = default_timeout
        self.expire_next = 0  # fault injection: answer this many next watches with 410


def _line(event_type: str, obj: Any) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + encode_json(obj) + b"}\n"


def _too_old(rv: int, storage: Storage) -> dict[str, Any]:
    return failure_status(
        410, f"too old resource version: {rv} ({storage.oldest_resumable_rv() + 1})", "Expired"
    )


async def serve_watch(
    request: web.Request,
    storage: Storage,
    settings: WatchSettings,
    rtype: ResourceType,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    convert: Callable[[Obj], Obj],
    render: Render | None,
) -> web.StreamResponse:
    query = request.query
    rv_text = query.get("resourceVersion", "")
    send_initial = query.get("sendInitialEvents", "").lower() == "true"
    bookmarks = query.get("allowWatchBookmarks", "").lower() == "true"
    if send_initial and (query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
        raise bad_request(
            "sendInitialEvents requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true"
        )
    try:
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
    except ValueError:
        raise bad_request("invalid timeoutSeconds") from None
    if timeout is None:
        timeout = settings.default_timeout * (1 + random.random())
    watcher = Watcher(rtype.store_key, namespace, labels, fields)
    initial: list[tuple[str, Obj]] = []
    replay: list[WatchEvent] = []
    error: dict[str, Any] | None = None
    if settings.expire_next > 0:
        settings.expire_next -= 1
        error = _too_old(int(rv_text) if rv_text.isdigit() else 0, storage)
    elif rv_text in ("", "0") or send_initial:
        initial = [("ADDED", o) for o in storage.items(rtype.store_key, namespace) if watcher.matches(o)]
    else:
        try:
            since = int(rv_text)
        except ValueError:
            raise bad_request(f"invalid resource version: {rv_text}") from None
        events = storage.events_since(rtype.store_key, since)
        if events is None:
            error = _too_old(since, storage)
        else:
            replay = events
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    if error is not None:
        await response.write(_line("ERROR", error))
        return response
    storage.add_watcher(watcher)
    try:
        out: list[bytes] = []
        for event_type, obj in initial:
            out.append(_encode(event_type, convert(obj), render))
        if send_initial:
            mark = _bookmark(rtype, str(storage.rv), {INITIAL_EVENTS_END: "true"})
            out.append(_line("BOOKMARK", mark))
        for event in replay:
            seen = watcher.classify(event)
            if seen is not None:
                out.append(_event_line(event, seen, rtype, convert, render))
        if out:
            await response.write(b"".join(out))
        aborted = await _pump(
            response, watcher, storage, settings, rtype, convert, render, timeout, bookmarks
        )
        if aborted and request.transport is not None:
            request.transport.abort()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watcher.closed = True
        storage.remove_watcher(watcher)
    return response


def _bookmark(rtype: ResourceType, rv: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if annotations:
        meta["annotations"] = annotations
    return {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}


def _encode(event_type: str, obj: Obj, render: Render | None) -> bytes:
    return _line(event_type, render(event_type, obj) if render else obj)


def _event_line(
    event: WatchEvent, seen: str, rtype: ResourceType, convert: Callable[[Obj], Obj], render: Render | None
) -> bytes:
    """Encode once per (type, version) and share the bytes across watchers."""
    obj = (
        event.obj
        if seen != "DELETED" or event.type == "DELETED"
        else dict(
            event.prev or event.obj,
            metadata=dict((event.prev or event.obj)["metadata"], resourceVersion=str(event.rv)),
        )
    )
    if render is not None:
        return _encode(seen, convert(obj), render)
    cache_key = (seen, rtype.api_version)
    line = event.encoded.get(cache_key)
    if line is None:
        line = event.encoded[cache_key] = _line(seen, convert(obj))
    return line


async def _pump(
    response: web.StreamResponse,
    watcher: Watcher,
    storage: Storage,
    settings: WatchSettings,
    rtype: ResourceType,
    convert: Callable[[Obj], Obj],
    render: Render | None,
    timeout: float,  # noqa: ASYNC109
    bookmarks: bool,
) -> bool:
    """Stream until timeout or close; True when the connection must be reset rather than ended."""
    deadline = time.monotonic() + timeout
    next_bookmark = time.monotonic() + min(settings.bookmark_interval, max(timeout - 1.0, 0.1))
    pending = watcher.pending
    while True:
        now = time.monotonic()
        if now >= deadline:
            return False
        if not pending:
            watcher.ready.clear()
            wake = min(deadline, next_bookmark) if bookmarks else deadline
            try:
                async with asyncio.timeout(max(wake - now, 0.001)):
                    await watcher.ready.wait()
            except TimeoutError:
                if bookmarks and time.monotonic() >= next_bookmark and not pending:
                    await response.write(_line("BOOKMARK", _bookmark(rtype, str(storage.rv))))
                    next_bookmark = time.monotonic() + settings.bookmark_interval
                continue
        out: list[bytes] = []
        while pending and len(out) < 500:
            seen, payload = pending.popleft()
            if seen == "CLOSE":
                if payload == ABORT:
                    return True
                if isinstance(payload, dict):
                    out.append(_line("ERROR", payload))
                if out:
                    await response.write(b"".join(out))
                return False
            out.append(_event_line(payload, seen, rtype, convert, render))
        await response.write(b"".join(out))
