"""Periodic cleanup of rows nobody needs any more: old rate-limit windows, dead tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from cip.store import accounts, rate_limits

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 600.0


async def prune(pool: asyncpg.Pool) -> None:
    await rate_limits.prune(pool)
    await accounts.prune_tokens(pool)


async def _every(interval: float, pool: asyncpg.Pool) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await prune(pool)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("housekeeping skipped: %s: %s", type(exc).__name__, exc)


def housekeeping_context(interval: float = INTERVAL_SECONDS) -> Callable[[Any], AsyncIterator[None]]:
    """Cleanup context: the pruning task (after the pool, which it uses)."""
    from cip import keys

    async def context(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(_every(interval, app[keys.POOL]), name="housekeeping")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return context
