"""The worker loop: outcomes (success, requeue(-after), errors, terminal errors, timeouts) and drain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kaito.controllers.clock import FakeClock
from kaito.controllers.controller import Controller, Request, Result, TerminalError
from kaito.controllers.informer import Informer
from kaito.controllers.objects import Obj, ObjectKey

from .waiting import wait_until


class Calls:
    def __init__(self, outcome: Callable[[Request, int], Awaitable[Result | None]]) -> None:
        self.outcome = outcome
        self.calls: list[Request] = []

    async def __call__(self, request: Request) -> Result | None:
        self.calls.append(request)
        return await self.outcome(request, len(self.calls))


async def run(controller: Controller) -> asyncio.Task[None]:
    task = asyncio.create_task(controller.run())
    await asyncio.sleep(0)
    return task


async def stop(controller: Controller, task: asyncio.Task[None]) -> None:
    await controller.stop(1)
    await asyncio.wait_for(task, 1)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_success_reconciles_once_and_forgets_backoff() -> None:
    async def ok(request: Request, n: int) -> None:
        return None

    reconcile = Calls(ok)
    controller = Controller("ctl-success", reconcile, workers=2, clock=FakeClock())
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "a"))
    await wait_until(lambda: len(reconcile.calls) == 1 and not controller.queue.processing)
    assert controller.queue.num_requeues(ObjectKey("ns", "a")) == 0
    assert metric("controller_runtime_reconcile_total", controller="ctl-success", result="success") == 1
    await stop(controller, task)


async def test_errors_retry_with_growing_backoff_until_success() -> None:
    clock = FakeClock()

    async def flaky(request: Request, n: int) -> None:
        if n < 4:
            raise RuntimeError(f"attempt {n} failed")

    reconcile = Calls(flaky)
    controller = Controller("ctl-flaky", reconcile, clock=clock)
    task = await run(controller)
    key = ObjectKey("ns", "a")
    controller.queue.add(key)
    await wait_until(lambda: len(reconcile.calls) == 1 and not controller.queue.processing)
    for attempt, delay in ((2, 0.005), (3, 0.01), (4, 0.02)):
        clock.advance(delay * 0.9)
        await asyncio.sleep(0.01)
        assert len(reconcile.calls) == attempt - 1, "retried before its backoff elapsed"
        clock.advance(delay * 0.2)
        await wait_until(lambda: len(reconcile.calls) == attempt and not controller.queue.processing)  # noqa: B023
    assert controller.queue.num_requeues(key) == 0  # success forgot the streak
    assert metric("controller_runtime_reconcile_errors_total", controller="ctl-flaky") == 3
    await stop(controller, task)


async def test_terminal_error_is_not_retried_and_is_recorded() -> None:
    clock = FakeClock()
    events: list[tuple[str, str, str]] = []

    class Recorder:
        def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
            events.append((type_, reason, message))

    async def invalid(request: Request, n: int) -> None:
        raise TerminalError("resource.count must be >= 1", reason="InvalidSpec")

    reconcile = Calls(invalid)
    controller = Controller("ctl-terminal", reconcile, clock=clock, recorder=Recorder())
    informer = Informer(None, _resource(), clock=clock)  # type: ignore[arg-type]  # never started
    informer.store.upsert({"kind": "Workspace", "metadata": {"name": "a", "namespace": "ns", "uid": "u"}})
    controller.for_(informer)
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "a"))
    await wait_until(lambda: len(reconcile.calls) == 1 and not controller.queue.processing)
    clock.advance(3600)
    await asyncio.sleep(0.01)
    assert len(reconcile.calls) == 1
    assert controller.queue.delayed == 0
    assert events == [("Warning", "InvalidSpec", "resource.count must be >= 1")]
    assert metric("controller_runtime_terminal_reconcile_errors_total", controller="ctl-terminal") == 1
    await stop(controller, task)


async def test_requeue_after_is_a_plain_delay_and_requeue_is_rate_limited() -> None:
    clock = FakeClock()

    async def outcome(request: Request, n: int) -> Result:
        if request.name == "later":
            return Result(requeue_after=30)
        return Result(requeue=n < 3)

    reconcile = Calls(outcome)
    controller = Controller("ctl-requeue", reconcile, clock=clock)
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "later"))
    await wait_until(lambda: len(reconcile.calls) == 1 and not controller.queue.processing)
    clock.advance(29)
    await asyncio.sleep(0.01)
    assert len(reconcile.calls) == 1
    clock.advance(1.5)
    await wait_until(lambda: len(reconcile.calls) == 2)
    assert controller.queue.num_requeues(ObjectKey("ns", "later")) == 0
    await stop(controller, task)


async def test_reconcile_timeout_counts_as_an_error() -> None:
    clock = FakeClock()

    async def slow(request: Request, n: int) -> None:
        if n == 1:
            await asyncio.sleep(10)

    reconcile = Calls(slow)
    controller = Controller("ctl-timeout", reconcile, clock=clock, reconcile_timeout=0.05)
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "a"))
    await wait_until(lambda: len(reconcile.calls) == 1 and not controller.queue.processing)
    assert controller.queue.delayed == 1
    clock.advance(0.01)
    await wait_until(lambda: len(reconcile.calls) == 2 and not controller.queue.processing)
    await stop(controller, task)


async def test_workers_run_keys_in_parallel_but_never_one_key_twice() -> None:
    active: dict[ObjectKey, int] = {}
    peak_total = 0
    overlap = False

    async def work(request: Request, n: int) -> None:
        nonlocal peak_total, overlap
        active[request] = active.get(request, 0) + 1
        overlap = overlap or active[request] > 1
        peak_total = max(peak_total, sum(active.values()))
        await asyncio.sleep(0.01)
        active[request] -= 1

    reconcile = Calls(work)
    controller = Controller("ctl-parallel", reconcile, workers=4, clock=FakeClock())
    task = await run(controller)
    keys = [ObjectKey("ns", f"k{i}") for i in range(6)]
    for _ in range(5):
        for key in keys:
            controller.queue.add(key)
        await asyncio.sleep(0.004)
    await wait_until(lambda: not controller.queue.processing and len(controller.queue) == 0)
    assert not overlap
    assert peak_total == 4
    await stop(controller, task)


async def test_stop_lets_in_flight_reconcile_finish() -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(request: Request, n: int) -> None:
        started.set()
        await asyncio.sleep(0.1)
        finished.append(request.name)

    controller = Controller("ctl-drain", Calls(slow), clock=FakeClock())
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "a"))
    await asyncio.wait_for(started.wait(), 2)
    assert await controller.stop(5) is True
    assert finished == ["a"]
    await asyncio.wait_for(task, 1)


async def test_cancel_stops_in_flight_reconcile_at_once() -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def slow(request: Request, n: int) -> None:
        started.set()
        await asyncio.sleep(5)
        finished.append(request.name)

    controller = Controller("ctl-cancel", Calls(slow), clock=FakeClock())
    task = await run(controller)
    controller.queue.add(ObjectKey("ns", "a"))
    await asyncio.wait_for(started.wait(), 2)
    controller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
    assert finished == []


def _resource() -> Any:
    from kaito.controllers.resource import Resource

    return Resource("kaito.sh", "v1beta1", "workspaces", "Workspace")
