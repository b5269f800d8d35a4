"""OwnWrites: a controller's own creates and update versions come back as events that start no new pass."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.controllers.echoes import OwnWrites
from kaito.controllers.objects import FrozenDict
from kaito.controllers.resource import CONFIGMAPS, SERVICES


def configmap(name: str, version: str = "1", uid: str = "u1") -> FrozenDict:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": version}
    }
    return FrozenDict(body)


def test_the_added_event_of_an_own_create_is_dropped_once() -> None:
    echoes = OwnWrites()
    configmaps = echoes.predicate(CONFIGMAPS)
    with echoes.creating(CONFIGMAPS, "ns", "a"):
        # The event may race ahead of the create's answer: it is an echo already.
        assert not configmaps.create(configmap("a"))
    assert configmaps.create(configmap("a"))  # a second delivery (a relist) is seen again
    assert len(echoes) == 0


def test_creates_are_told_apart_by_resource_namespace_and_name() -> None:
    echoes = OwnWrites()
    with echoes.creating(CONFIGMAPS, "ns", "a"):
        pass
    assert echoes.predicate(SERVICES).create(configmap("a"))  # a Service of the same name
    assert echoes.predicate(CONFIGMAPS).create(configmap("b"))
    assert echoes.predicate(CONFIGMAPS).create(FrozenDict({"metadata": {"name": "a", "namespace": "x"}}))
    assert not echoes.predicate(CONFIGMAPS).create(configmap("a"))


def test_a_failed_create_expects_nothing() -> None:
    echoes = OwnWrites()
    with pytest.raises(RuntimeError), echoes.creating(CONFIGMAPS, "ns", "a"):
        raise RuntimeError("refused")
    assert echoes.predicate(CONFIGMAPS).create(configmap("a"))


def test_only_the_exact_version_an_update_wrote_is_an_echo() -> None:
    echoes = OwnWrites()
    configmaps = echoes.predicate(CONFIGMAPS)
    echoes.expect(configmap("a", version="7"))
    assert configmaps.update(configmap("a", "6"), configmap("a", "8"))  # someone else's later write
    assert configmaps.update(configmap("a", "6"), configmap("a", "7", uid="other"))  # another object
    assert not configmaps.update(configmap("a", "6"), configmap("a", "7"))
    assert configmaps.update(configmap("a", "6"), configmap("a", "7"))  # consumed
    assert configmaps.delete(configmap("a", "7"))


def test_unanswered_writes_are_forgotten_oldest_first() -> None:
    echoes = OwnWrites(limit=2)
    for version in ("1", "2", "3"):
        echoes.expect(configmap("a", version))
    assert len(echoes) == 2
    configmaps = echoes.predicate(CONFIGMAPS)
    assert configmaps.update(configmap("a"), configmap("a", "1"))
    assert not configmaps.update(configmap("a"), configmap("a", "3"))
