"""Workqueue semantics on a hand-driven clock: dedup, exclusivity, re-adds, backoff, bucket, delays, drain."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from kaito.controllers.clock import FakeClock
from kaito.controllers.ratelimit import (
    ExponentialBackoff,
    MaxOf,
    TokenBucket,
    default_controller_rate_limiter,
)
from kaito.controllers.workqueue import QueueShutDown, WorkQueue

from .waiting import wait_until


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def make_queue(clock: FakeClock, name: str = "test") -> WorkQueue[str]:
    return WorkQueue(name, clock=clock, rate_limiter=default_controller_rate_limiter(clock))


async def test_duplicate_adds_are_deduplicated() -> None:
    queue = make_queue(FakeClock())
    for key in ["a", "b", "a", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_is_never_handed_to_two_workers_and_readd_runs_after_done() -> None:
    queue = make_queue(FakeClock())
    queue.add("a")
    first = await queue.get()
    queue.add("a")  # re-added while a worker holds it
    assert len(queue) == 0
    second = asyncio.create_task(queue.get())
    await settle()
    assert not second.done(), "a key being processed must not be handed out again"
    queue.done(first)
    assert await asyncio.wait_for(second, 1) == "a"
    queue.done("a")
    assert len(queue) == 0
    assert not queue.processing


async def test_readd_while_processing_is_deduplicated_too() -> None:
    queue = make_queue(FakeClock())
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    queue.done(key)
    assert len(queue) == 1


async def test_concurrent_workers_never_overlap_on_a_key() -> None:
    queue = make_queue(FakeClock())
    running: set[str] = set()
    overlaps = 0
    processed = 0

    async def worker() -> None:
        nonlocal overlaps, processed
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            if key in running:
                overlaps += 1
            running.add(key)
            await asyncio.sleep(0)
            if processed < 200:
                queue.add(key)
            await asyncio.sleep(0)
            running.discard(key)
            processed += 1
            queue.done(key)

    for key in "abc":
        queue.add(key)
    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await wait_until(lambda: processed >= 200)
    assert await queue.shut_down_with_drain(1)
    await asyncio.gather(*workers)
    assert overlaps == 0


def test_exponential_backoff_grows_and_caps() -> None:
    limiter = ExponentialBackoff(0.005, 1000.0)
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] == 1000.0
    assert limiter.retries("k") == 20
    assert limiter.when("other") == 0.005
    limiter.forget("k")
    assert limiter.when("k") == 0.005
    for _ in range(100):
        limiter.when("huge")
    assert limiter.when("huge") == 1000.0


def test_token_bucket_allows_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=100, clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("y") == pytest.approx(0.2)
    clock.advance(10.2)  # pays the 2-token debt back, then refills up to the burst cap
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    assert bucket.when("z") > 0


def test_try_take_never_goes_into_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=2, clock=clock)
    assert bucket.try_take()
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.advance(1.0)
    assert bucket.try_take()


def test_max_of_takes_the_longest_wait() -> None:
    clock = FakeClock()
    limiter = MaxOf(ExponentialBackoff(0.005, 1000), TokenBucket(10, 1, clock))
    assert limiter.when("a") == 0.005
    assert limiter.when("b") == pytest.approx(0.1)  # the bucket is empty now
    assert limiter.retries("a") == 1


async def test_rate_limited_adds_back_off_per_key() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_rate_limited("a")
    assert len(queue) == 0
    clock.advance(0.004)
    assert len(queue) == 0
    clock.advance(0.002)
    assert len(queue) == 1
    key = await queue.get()
    queue.done(key)
    queue.add_rate_limited("a")  # second failure: 10 ms
    clock.advance(0.009)
    assert len(queue) == 0
    clock.advance(0.002)
    assert len(queue) == 1
    assert queue.num_requeues("a") == 2
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_delayed_add_keeps_the_earliest_deadline() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    queue.add_after("a", 10)
    queue.add_after("a", 5)
    queue.add_after("a", 20)
    assert queue.delayed == 1
    clock.advance(5.01)
    assert len(queue) == 1
    assert queue.delayed == 0
    clock.advance(100)
    assert len(queue) == 1  # the later deadlines were dropped, not fired again
    queue.add_after("b", 0)
    assert len(queue) == 2


async def test_get_waits_for_delayed_key() -> None:
    clock = FakeClock()
    queue = make_queue(clock)
    getter = asyncio.create_task(queue.get())
    queue.add_after("a", 3)
    await settle()
    assert not getter.done()
    clock.advance(3)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_shutdown_releases_getters_and_drain_waits_for_in_flight_work() -> None:
    queue = make_queue(FakeClock())
    queue.add("busy")
    busy = await queue.get()
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    queue.add_after("delayed", 1)
    queue.add("busy")  # dirty while processing: dropped by the shutdown, not re-run
    drain = asyncio.create_task(queue.shut_down_with_drain(5))
    await settle()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(getter, 1)
    assert not drain.done(), "drain must wait for the key still being processed"
    queue.add("late")  # ignored after shutdown
    assert len(queue) == 0
    assert queue.delayed == 0
    queue.done(busy)
    assert await asyncio.wait_for(drain, 1) is True
    assert len(queue) == 0


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    queue = make_queue(FakeClock())
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "a"


async def test_drain_gives_up_at_its_deadline() -> None:
    queue = make_queue(FakeClock())
    queue.add("stuck")
    await queue.get()
    assert await queue.shut_down_with_drain(0.05) is False


async def test_metrics_report_depth_latency_and_longest_running() -> None:
    from prometheus_client import REGISTRY

    clock = FakeClock()
    queue = make_queue(clock, name="metrics-test")
    queue.add("a")
    queue.add("b")
    assert REGISTRY.get_sample_value("workqueue_depth", {"name": "metrics-test"}) == 2
    clock.advance(2)
    key = await queue.get()
    clock.advance(3)
    assert queue.longest_running_seconds() == pytest.approx(3)
    assert REGISTRY.get_sample_value("workqueue_unfinished_work_seconds", {"name": "metrics-test"}) == 3
    queue.done(key)
    labels = {"name": "metrics-test"}
    assert REGISTRY.get_sample_value("workqueue_adds_total", labels) == 2
    assert REGISTRY.get_sample_value("workqueue_queue_duration_seconds_sum", labels) == pytest.approx(2)
    assert REGISTRY.get_sample_value("workqueue_work_duration_seconds_sum", labels) == pytest.approx(3)
    assert REGISTRY.get_sample_value("workqueue_depth", labels) == 1
    queue.add_rate_limited("c")
    assert REGISTRY.get_sample_value("workqueue_retries_total", labels) == 1
