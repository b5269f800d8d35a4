"""Polling helpers for tests: wait for a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(condition: Callable[[], bool], within: float = 5.0, poll: float = 0.001) -> None:
    """Return once ``condition()`` holds; fail with TimeoutError after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the condition is plain state, not an event we own
            await asyncio.sleep(poll)


async def wait_for_value(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float) -> T:
    """Call ``probe`` until ``accept`` likes what it returns; fail with TimeoutError after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            value = await probe()
            if accept(value):
                return value
            await asyncio.sleep(0.05)
