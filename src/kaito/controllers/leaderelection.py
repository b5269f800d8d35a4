"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing rules.

A follower trusts only its own monotonic clock: a lease counts as expired ``lease_duration`` after this
process last *saw it change*, never by the holder's timestamps. A leader that cannot renew within
``renew_deadline`` (< lease_duration) of its last successful renew stops leading, so two leaders can never
overlap. Every write is guarded by the lease's resourceVersion.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from kaito.controllers import metrics
from kaito.controllers.client import JSON, KubeClient
from kaito.controllers.clock import Clock, RealClock
from kaito.controllers.errors import ApiError, ConflictError, NotFoundError
from kaito.controllers.resource import LEASES

log = structlog.get_logger(__name__)


class LeadershipLost(Exception):
    """The lease could not be renewed in time; the process must stop reconciling at once."""


class LeaseClient(Protocol):
    """Get / create / update one Lease object (updates are guarded by metadata.resourceVersion)."""

    async def get(self) -> JSON | None: ...

    async def create(self, lease: JSON) -> JSON: ...

    async def update(self, lease: JSON) -> JSON: ...


class KubeLeaseClient:
    """The Lease ``namespace/name`` through a :class:`KubeClient`."""

    def __init__(self, client: KubeClient, namespace: str, name: str) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name

    async def get(self) -> JSON | None:
        try:
            return await self.client.get(LEASES, self.name, self.namespace)
        except NotFoundError:
            return None

    async def create(self, lease: JSON) -> JSON:
        lease.setdefault("metadata", {}).update(name=self.name, namespace=self.namespace)
        return await self.client.create(LEASES, lease, self.namespace)

    async def update(self, lease: JSON) -> JSON:
        return await self.client.update(LEASES, lease)


def default_identity() -> str:
    """The pod name when running in a pod (POD_NAME), else hostname plus a random suffix."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires, renews and releases one lease for :attr:`identity`."""

    def __init__(
        self, lock: LeaseClient, config: LeaderElectionConfig, *, clock: Clock | None = None
    ) -> None:
        self.lock = lock
        self.config = config
        self.identity = config.identity or default_identity()
        self._clock = clock or RealClock()
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._last_renew = -float("inf")  # when the last successful renew was *sent*
        self._lease: JSON | None = None
        self.is_leader = False
        self._gauge = metrics.LEADER.labels(getattr(lock, "name", "lease"))
        self._log = log.bind(identity=self.identity)

    def _duration_seconds(self) -> int:
        return max(1, round(self.config.lease_duration))

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this process holds the lease afterwards."""
        sent_at = self._clock.now()
        now_text = _micro_time(self._clock.wall())
        try:
            lease = await self.lock.get()
            if lease is None:
                spec = {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": self._duration_seconds(),
                    "acquireTime": now_text,
                    "renewTime": now_text,
                    "leaseTransitions": 0,
                }
                self._lease = await self.lock.create({"metadata": {}, "spec": spec})
                return self._succeeded(sent_at)
            spec = dict(lease.get("spec") or {})
            if spec != self._observed_spec:
                self._observed_spec = spec
                self._observed_at = self._clock.now()
            holder = spec.get("holderIdentity") or ""
            if holder and holder != self.identity and not self._observed_expired():
                return False
            if holder == self.identity:
                new_spec = {**spec, "renewTime": now_text, "leaseDurationSeconds": self._duration_seconds()}
            else:
                new_spec = {
                    **spec,
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": self._duration_seconds(),
                    "acquireTime": now_text,
                    "renewTime": now_text,
                    "leaseTransitions": int(str(spec.get("leaseTransitions") or 0)) + (1 if holder else 0),
                }
            self._lease = await self.lock.update({**lease, "spec": new_spec})
            return self._succeeded(sent_at)
        except (ConflictError, NotFoundError):
            return False  # someone else wrote first; look again next round
        except (ApiError, OSError, TimeoutError) as error:
            self._log.warning("lease request failed", error=str(error))
            return False

    def _succeeded(self, sent_at: float) -> bool:
        assert self._lease is not None
        self._observed_spec = dict(self._lease.get("spec") or {})
        self._observed_at = sent_at
        self._last_renew = sent_at
        return True

    def _observed_expired(self) -> bool:
        duration = float(
            (self._observed_spec or {}).get("leaseDurationSeconds") or self.config.lease_duration
        )
        return self._clock.now() > self._observed_at + duration

    def _seconds_until_expiry(self) -> float:
        duration = float(
            (self._observed_spec or {}).get("leaseDurationSeconds") or self.config.lease_duration
        )
        return self._observed_at + duration - self._clock.now()

    async def acquire(self) -> None:
        """Return once this process is the leader (retrying every retry_period; cancellable)."""
        self._log.info("waiting for leadership")
        while not await self.try_acquire_or_renew():
            wait = self.config.retry_period
            until_expiry = self._seconds_until_expiry()
            if 0 < until_expiry < wait:
                wait = until_expiry + 0.01  # wake right at expiry instead of a whole period later
            await self._clock.sleep(wait)
        self.is_leader = True
        self._gauge.set(1)
        self._log.info("became leader")

    async def hold(self) -> None:
        """Renew every retry_period; raises :class:`LeadershipLost` when a renew deadline is missed."""
        try:
            while True:
                await self._clock.sleep(self.config.retry_period)
                while True:
                    if self._clock.now() - self._last_renew > self.config.renew_deadline:
                        raise LeadershipLost(f"failed to renew lease within {self.config.renew_deadline}s")
                    remaining = self._last_renew + self.config.renew_deadline - self._clock.now()
                    try:
                        async with asyncio.timeout(max(0.01, remaining)):
                            renewed = await self.try_acquire_or_renew()
                    except TimeoutError:
                        renewed = False
                    if renewed:
                        break
                    if self._clock.now() - self._last_renew > self.config.renew_deadline:
                        raise LeadershipLost(f"failed to renew lease within {self.config.renew_deadline}s")
                    await self._clock.sleep(min(self.config.retry_period / 2, max(0.01, remaining)))
        except LeadershipLost:
            self._stepped_down()
            self._log.error("leadership lost")
            raise

    def _stepped_down(self) -> None:
        self.is_leader = False
        self._gauge.set(0)

    async def release(self) -> bool:
        """Give the lease up for a fast handover: empty holder and a 1 s duration. True if released.

        A renew cancelled mid-flight may have landed without us seeing its answer, leaving our copy stale: on
        a conflict, read the lease again and release it only if we still hold it."""
        if not self.is_leader or self._lease is None:
            return False
        self._stepped_down()
        lease: JSON | None = self._lease
        for _ in range(_RELEASE_ATTEMPTS):
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                self._log.info("lease no longer ours; nothing to release")
                return False
            spec = dict(lease.get("spec") or {})
            now_text = _micro_time(self._clock.wall())
            spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=now_text, acquireTime=now_text)
            try:
                self._lease = await self.lock.update({**lease, "spec": spec})
            except ConflictError:
                try:
                    lease = await self.lock.get()
                except (ApiError, OSError, TimeoutError) as error:
                    self._log.warning("could not release lease", error=str(error))
                    return False
                continue
            except (ApiError, OSError, TimeoutError) as error:
                self._log.warning("could not release lease", error=str(error))
                return False
            self._log.info("released lease")
            return True
        self._log.warning("could not release lease", error="kept conflicting")
        return False


_RELEASE_ATTEMPTS = 3
