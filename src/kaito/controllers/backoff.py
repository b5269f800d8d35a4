"""Jittered exponential backoff for reconnecting watches (client-go's 800 ms → 30 s with reset)."""

from __future__ import annotations

import random

from kaito.controllers.clock import Clock, RealClock


class Backoff:
    """Each :meth:`next_delay` doubles up to ``cap`` with up to ``jitter``× extra; quiet periods reset it."""

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Clock | None = None,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock or RealClock()
        self._current = 0.0
        self._last = -float("inf")

    def next_delay(self) -> float:
        now = self._clock.now()
        if now - self._last > self.reset_after:
            self._current = 0.0
        self._last = now
        self._current = self.initial if self._current == 0 else min(self.cap, self._current * 2)
        return self._current * (1 + random.random() * self.jitter)

    def reset(self) -> None:
        self._current = 0.0
