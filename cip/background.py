"""Work a running service repeats on its own: `every(interval, job)` runs a job (a function,
or a coroutine function) every `interval` seconds for as long as its block lasts (a cleanup
context holds it open)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)
Job = Callable[[], object]


async def _repeat(interval: float, job: Job, name: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            result = job()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # the database may be down: the next round comes on time
            log.warning("%s failed: %s: %s", name, type(exc).__name__, exc)


@asynccontextmanager
async def every(interval: float, job: Job, *, name: str) -> AsyncIterator[None]:
    task = asyncio.create_task(_repeat(interval, job, name), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
