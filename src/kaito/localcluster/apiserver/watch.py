"""One open watch: filters a resource's events by namespace and selectors into a bounded queue."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from kaito.localcluster.apiserver.selectors import FieldSelector, LabelSelector, fields_match, labels_match

if TYPE_CHECKING:
    from kaito.localcluster.apiserver.storage import StoreKey, WatchEvent

# Item a watcher's queue carries: (event type, event) or a terminal ("CLOSE", reason-or-error-status).
QueueItem = tuple[str, Any]


class Watcher:
    """Receives one resource's events; a watcher falling ``max_queue`` behind is closed, not waited on."""

    def __init__(
        self,
        store_key: StoreKey,
        namespace: str | None,
        label_selector: LabelSelector,
        field_selector: FieldSelector,
        max_queue: int = 10_000,
    ) -> None:
        self.store_key = store_key
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.pending: deque[QueueItem] = deque()
        self.ready = asyncio.Event()
        self.max_queue = max_queue
        self.closed = False

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        if self.label_selector and not labels_match(self.label_selector, meta.get("labels")):
            return False
        return not self.field_selector or fields_match(self.field_selector, obj)

    def classify(self, event: WatchEvent) -> str | None:
        """The event type this watcher sees (objects moving in/out of its selection become ADDED/DELETED)."""
        if event.type == "ADDED":
            return "ADDED" if self.matches(event.obj) else None
        if event.type == "DELETED":
            return "DELETED" if self.matches(event.prev) else None
        now, before = self.matches(event.obj), self.matches(event.prev)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None

    def offer(self, event: WatchEvent) -> None:
        if self.closed:
            return
        seen_as = self.classify(event)
        if seen_as is None:
            return
        if len(self.pending) >= self.max_queue:
            self.close("watcher fell too far behind")
            return
        self.pending.append((seen_as, event))
        self.ready.set()

    def close(self, reason: Any = None) -> None:
        """End the watch; ``reason`` may be a Status dict sent to the client as an ERROR event first."""
        if not self.closed:
            self.closed = True
            self.pending.append(("CLOSE", reason))
            self.ready.set()
