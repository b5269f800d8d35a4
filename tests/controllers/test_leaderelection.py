"""Leader election state machine on a fake clock and an in-memory Lease, with the default 15/10/2 timing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from kaito.controllers.clock import FakeClock
from kaito.controllers.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost

from .fakes import FakeLeaseClient, FakeLeaseServer

DEFAULT = LeaderElectionConfig(lease_duration=15, renew_deadline=10, retry_period=2)


class Replica:
    """An elector driven like the manager drives it: acquire, then hold until lost or cancelled."""

    def __init__(self, name: str, server: FakeLeaseServer, clock: FakeClock) -> None:
        self.lock: FakeLeaseClient = server.client()
        self.elector = LeaderElector(
            self.lock,
            LeaderElectionConfig(DEFAULT.lease_duration, DEFAULT.renew_deadline, DEFAULT.retry_period, name),
            clock=clock,
        )
        self.lost = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await self.elector.acquire()
        try:
            await self.elector.hold()
        except LeadershipLost:
            self.lost = True

    async def kill(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def leads(replica: Replica) -> bool:
    return replica.elector.is_leader


async def step(clock: FakeClock, seconds: float, replicas: list[Replica], dt: float = 0.05) -> None:
    """Advance fake time in small steps, asserting at each one that at most one replica leads."""
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(dt)
        elapsed += dt
        for _ in range(6):
            await asyncio.sleep(0)
        leaders = [r for r in replicas if r.elector.is_leader]
        assert len(leaders) <= 1, f"two active leaders at +{elapsed:.2f}s"


async def leader_after(clock: FakeClock, replicas: list[Replica], limit: float, dt: float = 0.05) -> float:
    elapsed = 0.0
    while elapsed <= limit:
        if any(r.elector.is_leader for r in replicas):
            return elapsed
        await step(clock, dt, replicas, dt)
        elapsed += dt
    raise AssertionError(f"no leader within {limit}s")


async def test_exactly_one_of_two_leads_and_keeps_renewing() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    b = Replica("b", server, clock)
    await step(clock, 0.1, [a, b])
    await step(clock, 60, [a, b])
    leaders = [r for r in (a, b) if r.elector.is_leader]
    assert len(leaders) == 1
    assert server.lease is not None
    assert server.lease["spec"]["holderIdentity"] == leaders[0].elector.identity
    assert server.lease["spec"]["leaseDurationSeconds"] == 15
    assert server.lease["spec"]["leaseTransitions"] == 0
    assert len(server.writes) >= 25  # renewed about every 2 s
    await a.kill()
    await b.kill()


async def test_killed_leader_is_replaced_within_17_seconds() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 0.1, [a])
    b = Replica("b", server, clock)
    await step(clock, 7.3, [a, b])  # kill at an arbitrary point of a renew period
    assert a.elector.is_leader
    await a.kill()  # no release: the lease must expire
    a.elector.is_leader = False  # a dead process leads nothing
    failover = await leader_after(clock, [a, b], 20)
    assert b.elector.is_leader
    assert failover <= 17.0
    assert failover >= 15.0 - 2.0  # never before the lease could have expired from b's observation
    assert server.lease is not None
    assert server.lease["spec"]["leaseTransitions"] == 1
    await b.kill()


async def test_partitioned_leader_steps_down_before_anyone_else_takes_over() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 0.1, [a])
    b = Replica("b", server, clock)
    await step(clock, 5, [a, b])
    a.lock.partitioned = True
    # step() asserts at every 50 ms that the two never lead together.
    await step(clock, 30, [a, b])
    assert a.lost
    assert not a.elector.is_leader
    assert b.elector.is_leader
    await b.kill()


async def test_release_hands_over_at_the_next_retry() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 0.1, [a])
    b = Replica("b", server, clock)
    await step(clock, 3, [a, b])
    await a.kill()
    assert await a.elector.release()
    assert server.lease is not None
    assert server.lease["spec"]["holderIdentity"] == ""
    assert server.lease["spec"]["leaseDurationSeconds"] == 1
    assert await leader_after(clock, [a, b], 20) <= DEFAULT.retry_period + 0.1
    await b.kill()


async def test_release_after_an_unseen_renew_rereads_the_lease() -> None:
    """A renew cancelled after it reached the server leaves our copy stale; release must still land."""
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 0.1, [a])
    await a.kill()
    assert server.lease is not None
    server.version += 1  # the renew that landed without its answer reaching us
    server.lease["metadata"]["resourceVersion"] = str(server.version)
    assert await a.elector.release()
    assert server.lease["spec"]["holderIdentity"] == ""


async def test_release_leaves_a_lease_someone_else_now_holds() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 0.1, [a])
    await a.kill()
    assert server.lease is not None
    server.version += 1
    server.lease["metadata"]["resourceVersion"] = str(server.version)
    server.lease["spec"]["holderIdentity"] = "b"
    assert not await a.elector.release()
    assert server.lease["spec"]["holderIdentity"] == "b"


async def test_lease_request_failures_are_retried_not_fatal() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    a.lock.partitioned = True
    await step(clock, 10, [a])
    assert not leads(a)
    a.lock.partitioned = False
    await step(clock, 2.5, [a])
    assert leads(a)
    await a.kill()


async def test_restarted_leader_with_same_identity_reacquires_at_once() -> None:
    clock, server = FakeClock(), FakeLeaseServer()
    a = Replica("a", server, clock)
    await step(clock, 1, [a])
    await a.kill()
    again = Replica("a", server, clock)
    await step(clock, 0.1, [again])
    assert again.elector.is_leader
    await again.kill()


def test_config_rejects_unsafe_timing() -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaderElectionConfig(lease_duration=10, renew_deadline=10, retry_period=2)
