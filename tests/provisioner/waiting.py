"""Polling helpers: wait for a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(condition: Callable[[], bool], within: float = 10.0, poll: float = 0.01) -> None:
    """Return once `condition()` holds; fail with TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - plain state owned by someone else, not an event
            await asyncio.sleep(poll)


async def wait_for_value(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 20.0
) -> T:
    """Call `probe` until `accept` likes its answer; fail with TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            value = await probe()
            if accept(value):
                return value
            await asyncio.sleep(0.05)
