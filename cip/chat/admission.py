"""Letting a crowd of chats in: a few at a time, in the order they came, none for too long.

A chat's admission (its rate limits, its opening write) needs a pooled connection; a burst of
thousands would otherwise queue on the pool until its acquire timeout and fail with a 503 that
says the database is gone. `Admission` lets in `slots` chats at once (the pool's size) and
queues the rest first come, first served; one still waiting after `wait` seconds is refused
503 `busy` with a Retry-After, before anything was written, so the page sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from cip import errors


class Admission:
    def __init__(self, slots: int, wait: float) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._wait = wait

    @contextlib.asynccontextmanager
    async def entered(self) -> AsyncIterator[None]:
        """The block runs in one of the slots; `errors.Busy` when none came free in time."""
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise errors.Busy(retry_after=math.ceil(self._wait / 2)) from None
        try:
            yield
        finally:
            self._slots.release()
