"""The adapter manager's reconcile logic against an in-memory engine: add, remove, retry, engine restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.api.adapters import AdapterState, DesiredAdapter, DesiredAdapters
from kaito.serving.adapter_manager import AdapterManager
from kaito.serving.adapter_spec import read_desired, write_desired
from kaito.serving.adapter_stage import AdapterStager, stage_key
from kaito.serving.lora_engine import AdapterLoadError


class MemoryEngine:
    """Serves adapters from a dict; refuses adapters whose config says `"refuse": true`; can 'restart'."""

    def __init__(self) -> None:
        self.adapters: dict[str, str] = {}
        self.loads = 0

    async def loaded(self) -> dict[str, str]:
        return dict(self.adapters)

    async def load(self, name: str, path: str) -> None:
        config = json.loads((Path(path) / "adapter_config.json").read_text())
        if config.get("refuse"):
            raise AdapterLoadError("target modules do not match the base model")
        self.loads += 1
        self.adapters[name] = path

    async def unload(self, name: str) -> None:
        self.adapters.pop(name, None)

    def restart(self) -> None:
        self.adapters.clear()


def make_adapter(root: Path, rank: int = 4, **extra: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text(json.dumps({"r": rank, **extra}))
    (root / "adapter_model.safetensors").write_bytes(b"weights")
    return root


@pytest.fixture
def setup(tmp_path: Path) -> tuple[AdapterManager, MemoryEngine, Path]:
    engine = MemoryEngine()
    stager = AdapterStager(tmp_path / "staged", tmp_path / "secrets", max_rank=8, plain_http=frozenset())
    manager = AdapterManager(
        engine, stager, tmp_path / "desired.yaml", tmp_path / "staged" / "status.json", "base-model"
    )
    return manager, engine, tmp_path


def desired(path: Path, *adapters: DesiredAdapter) -> None:
    write_desired(path / "desired.yaml", DesiredAdapters(adapters=list(adapters)))


async def test_add_then_remove(setup: tuple[AdapterManager, MemoryEngine, Path]) -> None:
    manager, engine, root = setup
    source = make_adapter(root / "a")
    desired(root, DesiredAdapter(name="a", path=str(source)))
    report = await manager.reconcile()
    assert [(s.name, s.state) for s in report.adapters] == [("a", AdapterState.LOADED)]
    assert Path(engine.adapters["a"]).name == stage_key(DesiredAdapter(name="a", path=str(source)))
    status = json.loads((root / "staged" / "status.json").read_text())
    assert status["adapters"][0]["state"] == "Loaded"
    desired(root)
    report = await manager.reconcile()
    assert report.adapters == []
    assert engine.adapters == {}


async def test_restarted_engine_gets_its_adapters_back_without_restaging(
    setup: tuple[AdapterManager, MemoryEngine, Path],
) -> None:
    manager, engine, root = setup
    desired(root, DesiredAdapter(name="a", path=str(make_adapter(root / "a"))))
    await manager.reconcile()
    engine.restart()
    report = await manager.reconcile()
    assert report.adapters[0].state is AdapterState.LOADED
    assert "a" in engine.adapters
    assert engine.loads == 2
    await manager.reconcile()  # nothing changed: no reload
    assert engine.loads == 2


async def test_failures_are_reported_with_reasons(setup: tuple[AdapterManager, MemoryEngine, Path]) -> None:
    manager, engine, root = setup
    desired(
        root,
        DesiredAdapter(name="big", path=str(make_adapter(root / "big", rank=64))),
        DesiredAdapter(name="refused", path=str(make_adapter(root / "refused", refuse=True))),
        DesiredAdapter(name="absent", path=str(root / "nowhere")),
        DesiredAdapter(name="good", path=str(make_adapter(root / "good"))),
    )
    report = {s.name: s for s in (await manager.reconcile()).adapters}
    assert report["big"].reason == "RankTooLarge"
    assert report["refused"].reason == "EngineRejected"
    assert "target modules" in report["refused"].message
    assert report["absent"].reason == "AdapterNotFound"
    assert report["good"].state is AdapterState.LOADED
    assert set(engine.adapters) == {"good"}


async def test_failed_adapter_recovers_once_fixed(setup: tuple[AdapterManager, MemoryEngine, Path]) -> None:
    manager, _engine, root = setup
    spec = DesiredAdapter(name="late", path=str(root / "late"))
    desired(root, spec)
    assert (await manager.reconcile()).adapters[0].state is AdapterState.FAILED
    make_adapter(root / "late")
    manager._tracked["late"].retry_at = 0  # the backoff has elapsed
    assert (await manager.reconcile()).adapters[0].state is AdapterState.LOADED


async def test_strength_change_loads_a_new_staged_copy(
    setup: tuple[AdapterManager, MemoryEngine, Path],
) -> None:
    manager, engine, root = setup
    source = make_adapter(root / "a")
    desired(root, DesiredAdapter(name="a", path=str(source), strength="1.0"))
    await manager.reconcile()
    first = engine.adapters["a"]
    desired(root, DesiredAdapter(name="a", path=str(source), strength="1"))
    await manager.reconcile()
    assert engine.adapters["a"] != first


async def test_malformed_desired_file_keeps_the_previous_list(
    setup: tuple[AdapterManager, MemoryEngine, Path],
) -> None:
    manager, engine, root = setup
    desired(root, DesiredAdapter(name="a", path=str(make_adapter(root / "a"))))
    await manager.reconcile()
    (root / "desired.yaml").write_text("adapters: [{name: NOT_DNS, path: /x}]")
    report = await manager.reconcile()
    assert "desired.yaml" in report.desired_file_error
    assert [s.name for s in report.adapters] == ["a"]
    assert "a" in engine.adapters


def test_desired_file_rules(tmp_path: Path) -> None:
    assert read_desired(tmp_path / "missing.yaml").adapters == []
    with pytest.raises(ValueError, match="exactly one"):
        DesiredAdapter(name="x", image="r/x:1", path="/x")
    with pytest.raises(ValueError, match="unique"):
        DesiredAdapters(adapters=[DesiredAdapter(name="x", path="/a"), DesiredAdapter(name="x", path="/b")])
    with pytest.raises(ValueError, match="strength"):
        DesiredAdapter(name="x", path="/a", strength="1.5")
