"""Own-write echoes: watch events that only deliver back an object exactly as this controller wrote it.

A reconcile that creates or updates an object already acted on what it wrote; the watch event carrying
that object tells it nothing new, yet would enqueue one more full pass. :class:`OwnWrites` remembers the
writes and its predicates drop their events, once each:

- a create, by resource, namespace and name, from before it is sent (its ADDED event often arrives before
  the answer). Should the create fail because someone else created the object first, dropping that ADDED
  loses nothing: the failing pass reads the object itself (or is retried) and acts on it;
- an update, by uid and the resourceVersion the server answered: an event racing ahead of the answer
  passes (one extra pass, as without this), and any other writer's version always passes.

Deletes always pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, TypeVar

from kaito.controllers.objects import Obj, key_of, meta
from kaito.controllers.predicates import Predicate
from kaito.controllers.resource import Resource

# Writes whose event never comes (merged into a relist, or raced ahead of the answer) are forgotten,
# oldest first, beyond this many.
DEFAULT_LIMIT: Final = 10_000

_K = TypeVar("_K")


class OwnWrites:
    """Creates and update versions this controller wrote whose watch event has not come yet."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._creates: dict[tuple[str, str, str], None] = {}  # (plural.group, namespace, name)
        self._versions: dict[tuple[str, str], None] = {}  # (uid, resourceVersion)

    @contextmanager
    def creating(self, resource: Resource, namespace: str, name: str) -> Iterator[None]:
        """Around a create: its ADDED event is an echo (kept afterwards only if the create succeeded)."""
        key = (f"{resource.plural}.{resource.group}", namespace, name)
        _remember(self._creates, key, self._limit)
        try:
            yield
        except BaseException:
            self._creates.pop(key, None)
            raise

    def expect(self, written: Obj) -> None:
        """Record the server's answer to an update: the event of that exact version is an echo."""
        metadata = meta(written)
        uid, version = metadata.get("uid"), metadata.get("resourceVersion")
        if uid and version:
            _remember(self._versions, (str(uid), str(version)), self._limit)

    def __len__(self) -> int:
        return len(self._creates) + len(self._versions)

    def predicate(self, resource: Resource) -> Predicate:
        """For the informer of ``resource``: drops the echoes of this controller's writes."""

        where = f"{resource.plural}.{resource.group}"

        def on_create(obj: Obj) -> bool:
            key = key_of(obj)
            return not _consume(self._creates, (where, key.namespace, key.name))

        def on_update(old: Obj, new: Obj) -> bool:
            metadata = meta(new)
            version = (str(metadata.get("uid") or ""), str(metadata.get("resourceVersion") or ""))
            return not _consume(self._versions, version)

        return Predicate(create=on_create, update=on_update)


def _remember(pending: dict[_K, None], key: _K, limit: int) -> None:
    pending.pop(key, None)
    if len(pending) >= limit:
        del pending[next(iter(pending))]
    pending[key] = None


def _consume(pending: dict[_K, None], key: _K) -> bool:
    """Whether ``key`` was pending (it no longer is)."""
    if key in pending:
        del pending[key]
        return True
    return False
