"""Rate limiters for the workqueue: per-key exponential backoff, a global token bucket, and their maximum."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kaito.controllers.clock import Clock, RealClock


class RateLimiter(Protocol):
    """Says how long a key must wait before its next try; ``forget`` ends its failure streak."""

    def when(self, key: Hashable) -> float: ...

    def forget(self, key: Hashable) -> None: ...

    def retries(self, key: Hashable) -> int: ...


class ExponentialBackoff:
    """base × 2^failures per key, capped at ``cap`` (client-go's ItemExponentialFailureRateLimiter)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures >= 64:  # 2**64 × base overflows any sane cap
            return self.cap
        return float(min(self.cap, self.base * (2.0**failures)))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class TokenBucket:
    """A global bucket of ``burst`` tokens refilled at ``qps``; each call reserves one token."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def when(self, key: Hashable) -> float:
        """Reserve a token and return how long to wait for it (the bucket may go into debt)."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_take(self) -> bool:
        """Take a token if one is there now; never goes into debt."""
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def forget(self, key: Hashable) -> None:
        return None

    def retries(self, key: Hashable) -> int:
        return 0


class MaxOf:
    """The longest wait any of several limiters asks for (client-go's default controller limiter)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self._limiters = limiters

    def when(self, key: Hashable) -> float:
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def retries(self, key: Hashable) -> int:
        return max(limiter.retries(key) for limiter in self._limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> RateLimiter:
    """5 ms → 1000 s per key, and 10 qps / burst 100 overall, as controller-runtime does by default."""
    return MaxOf(ExponentialBackoff(0.005, 1000.0), TokenBucket(10.0, 100, clock))
