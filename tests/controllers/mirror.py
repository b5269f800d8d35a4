"""An event handler that rebuilds the world from add/update/delete events alone, to check none is missed."""

from __future__ import annotations

from typing import Any

from kaito.controllers.objects import Obj, ObjectKey, key_of, resource_version_of, thaw


class Mirror:
    """Applies every event to its own dict; after quiescence it must equal the server's list."""

    def __init__(self) -> None:
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.adds = self.updates = self.deletes = 0
        self.problems: list[str] = []

    def on_add(self, obj: Obj) -> None:
        self.adds += 1
        key = key_of(obj)
        if key in self.objects:
            self.problems.append(f"add of {key} that is already present")
        self.objects[key] = thaw(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        self.updates += 1
        key = key_of(new)
        if key not in self.objects:
            self.problems.append(f"update of unknown {key}")
        elif resource_version_of(self.objects[key]) != resource_version_of(old):
            self.problems.append(f"update of {key} whose old version we never saw")
        self.objects[key] = thaw(new)

    def on_delete(self, obj: Obj) -> None:
        self.deletes += 1
        if self.objects.pop(key_of(obj), None) is None:
            self.problems.append(f"delete of unknown {key_of(obj)}")

    def versions(self) -> dict[ObjectKey, str]:
        return {key: resource_version_of(obj) for key, obj in self.objects.items()}
