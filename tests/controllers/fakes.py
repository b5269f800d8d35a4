"""In-memory stand-ins shared by the runtime's unit tests (a Lease with resourceVersion semantics)."""

from __future__ import annotations

import copy
from typing import Any

from kaito.controllers.errors import ConflictError

JSON = dict[str, Any]


class FakeLeaseServer:
    """One Lease object with optimistic concurrency, like the API server keeps it."""

    def __init__(self) -> None:
        self.lease: JSON | None = None
        self.version = 0
        self.writes: list[JSON] = []

    def client(self) -> FakeLeaseClient:
        return FakeLeaseClient(self)


class FakeLeaseClient:
    """A LeaseClient whose requests can be made to fail (a partitioned replica)."""

    def __init__(self, server: FakeLeaseServer) -> None:
        self.server = server
        self.partitioned = False

    def _check(self) -> None:
        if self.partitioned:
            raise OSError("network unreachable")

    async def get(self) -> JSON | None:
        self._check()
        return copy.deepcopy(self.server.lease)

    async def create(self, lease: JSON) -> JSON:
        self._check()
        if self.server.lease is not None:
            raise ConflictError(409, "AlreadyExists", "lease exists")
        return self._store(lease)

    async def update(self, lease: JSON) -> JSON:
        self._check()
        current = self.server.lease
        if current is None or current["metadata"]["resourceVersion"] != lease["metadata"].get(
            "resourceVersion"
        ):
            raise ConflictError(409, "Conflict", "the object has been modified")
        return self._store(lease)

    def _store(self, lease: JSON) -> JSON:
        self.server.version += 1
        stored = copy.deepcopy(lease)
        stored.setdefault("metadata", {})["resourceVersion"] = str(self.server.version)
        self.server.lease = stored
        self.server.writes.append(copy.deepcopy(stored["spec"]))
        return copy.deepcopy(stored)
