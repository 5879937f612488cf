"""Fixed-window rate limits kept in PostgreSQL (`rate_counter`), shared by every app instance.

A bucket is a string naming what is limited (`login:ip:203.0.113.7`); a window is a number of
seconds aligned to the epoch. `hit` counts, `peek` only reads, and `enforce` is the usual
"count and refuse with 429 past the limit" in one statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import asyncpg
from pydantic import BaseModel

from cip.errors import RateLimited
from cip.sql import queries

Q = queries("rate_limits")
Executor = asyncpg.Connection | asyncpg.Pool
# Counter rows older than this are pruned; windows must be shorter.
KEEP_SECONDS = 24 * 3600


class CounterRow(BaseModel):
    bucket: str
    hits: int
    retry_after: int


def key(value: str) -> str:
    """A bucket part for personal data (an email address): stable, but not the address."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


async def hit(db: Executor, buckets: Sequence[str], window_seconds: int) -> list[CounterRow]:
    """Count one hit in every bucket; the new counts."""
    records = await db.fetch(Q.hit, list(buckets), window_seconds)
    return [CounterRow.model_validate(dict(record)) for record in records]


async def peek(db: Executor, buckets: Sequence[str], window_seconds: int) -> list[CounterRow]:
    """The current counts of the buckets that have any (others are zero)."""
    records = await db.fetch(Q.peek, list(buckets), window_seconds)
    return [CounterRow.model_validate(dict(record)) for record in records]


def refuse(counters: Sequence[CounterRow], limits: Mapping[str, int], *, counted: bool,
           detail: str | None = None) -> None:
    """429 with Retry-After when a bucket is past its limit. `counted`: the counters include
    the current request (it may be the limit-th); otherwise reaching the limit refuses."""
    over = [c for c in counters if c.hits > limits[c.bucket] - (0 if counted else 1)]
    if over:
        raise RateLimited(max(c.retry_after for c in over), detail)


async def enforce(db: Executor, bucket: str, limit: int, window_seconds: int) -> None:
    """Count a hit; 429 with Retry-After once the window holds more than `limit` hits."""
    refuse(await hit(db, [bucket], window_seconds), {bucket: limit}, counted=True)


async def within(db: Executor, bucket: str, limit: int, window_seconds: int) -> bool:
    """Count a hit; whether the window still holds at most `limit` hits (no error)."""
    return all(c.hits <= limit for c in await hit(db, [bucket], window_seconds))


async def forgive(db: Executor, buckets: Sequence[str], window_seconds: int) -> None:
    """Take back the hit of an attempt that succeeded (counted first, so bursts cannot race
    past the limit)."""
    await db.execute(Q.forgive, list(buckets), window_seconds)


async def prune(db: Executor, older_than_seconds: int = KEEP_SECONDS) -> None:
    await db.execute(Q.prune, older_than_seconds)
