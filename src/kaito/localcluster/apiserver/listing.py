"""List semantics: selectors, resourceVersion(Match), limit/continue over consistent snapshots."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from kaito.localcluster.apiserver.errors import ApiError, bad_request, expired
from kaito.localcluster.apiserver.registry import ResourceType
from kaito.localcluster.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    exact_name,
    fields_match,
    labels_match,
)
from kaito.localcluster.apiserver.storage import Obj, Storage

_TOO_OLD_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


@dataclass
class ListQuery:
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    limit: int | None
    continue_token: str
    resource_version: str
    match: str


@dataclass
class ListResult:
    items: list[Obj]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


def _matches(query: ListQuery, obj: Obj) -> bool:
    if query.labels and not labels_match(query.labels, obj["metadata"].get("labels")):
        return False
    return not query.fields or fields_match(query.fields, obj)


def current_items(storage: Storage, rtype: ResourceType, query: ListQuery) -> list[Obj]:
    name = exact_name(query.fields)
    if name is not None:
        if query.namespace is None and rtype.namespaced:
            candidates = [o for o in storage.items(rtype.store_key) if o["metadata"]["name"] == name]
        else:
            found = storage.get(rtype.store_key, query.namespace or "", name)
            candidates = [found] if found is not None else []
    else:
        candidates = storage.items(rtype.store_key, query.namespace)
    if not query.labels and not query.fields:
        return candidates
    return [o for o in candidates if _matches(query, o)]


def _items_at(storage: Storage, rtype: ResourceType, query: ListQuery, rv: int) -> list[Obj]:
    """Reconstruct the list as of ``rv`` by undoing later events (resourceVersionMatch=Exact)."""
    events = storage.events_since(rtype.store_key, rv)
    if events is None:
        raise expired(
            f"The resourceVersion for the provided list is too old. Current resource version: {storage.rv}"
        )
    state: dict[tuple[str, str], Obj] = {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in storage.items(rtype.store_key)
    }
    for event in reversed(events):
        key = (event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])
        if event.type == "ADDED":
            state.pop(key, None)
        elif event.prev is not None:
            state[key] = event.prev
    result = [state[k] for k in sorted(state)]
    return [
        o
        for o in result
        if (query.namespace is None or o["metadata"].get("namespace", "") == query.namespace)
        and _matches(query, o)
    ]


def _encode_token(snapshot_id: str, offset: int, rv: str) -> str:
    raw = json.dumps({"s": snapshot_id, "o": offset, "rv": rv}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[str, int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["s"]), int(data["o"]), str(data["rv"])
    except (ValueError, KeyError, TypeError):
        raise bad_request("continue key is not valid: invalid continue token") from None


def run_list(storage: Storage, rtype: ResourceType, query: ListQuery) -> ListResult:
    if query.limit is not None and query.limit < 0:
        raise bad_request("limit must not be negative")
    if query.continue_token:
        if query.resource_version not in ("", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        snapshot_id, offset, rv = _decode_token(query.continue_token)
        items = storage.snapshot(snapshot_id)
        if items is None:
            raise ApiError(410, _TOO_OLD_CONTINUE, "Expired")
        return _page(storage, items, offset, query.limit, rv, snapshot_id)
    if query.match and query.match not in ("Exact", "NotOlderThan"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: "{query.match}"')
    if query.match and not query.resource_version:
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    rv_text = query.resource_version
    if rv_text not in ("", "0"):
        try:
            wanted = int(rv_text)
        except ValueError:
            raise bad_request(f"invalid resource version: {rv_text}") from None
        if wanted > storage.rv:
            raise ApiError(
                504,
                f"Too large resource version: {wanted}, current: {storage.rv}",
                "Timeout",
                causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                retry_after=1,
            )
        if query.match == "Exact" and wanted != storage.rv:
            return _page(storage, _items_at(storage, rtype, query, wanted), 0, query.limit, rv_text, None)
    elif query.match == "Exact":
        raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
    items = current_items(storage, rtype, query)
    return _page(storage, items, 0, query.limit, str(storage.rv), None)


def _page(
    storage: Storage, items: list[Obj], offset: int, limit: int | None, rv: str, snapshot_id: str | None
) -> ListResult:
    if not limit or offset + limit >= len(items):
        return ListResult(items[offset:], rv)
    if snapshot_id is None:
        snapshot_id = uuid.uuid4().hex
        storage.save_snapshot(snapshot_id, items)
    end = offset + limit
    return ListResult(items[offset:end], rv, _encode_token(snapshot_id, end, rv), len(items) - end)


def list_body(rtype: ResourceType, result: ListResult, items: list[Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": result.resource_version}
    if result.continue_token:
        metadata["continue"] = result.continue_token
    if result.remaining is not None:
        metadata["remainingItemCount"] = result.remaining
    return {"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": metadata, "items": items}
