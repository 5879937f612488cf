"""Fixed-window rate limits, shared by every instance through PostgreSQL.

A limit counts hits per bucket (`chat:ip:<tenant>:<address>`) in windows of a fixed number of
seconds aligned to the epoch. The windows are placed by a `Clock`: the wall clock in service,
one the tests set, so no test waits for a window to turn. A request past a limit is a 429
whose `Retry-After` says when its window ends.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from cip import errors, metrics
from cip.config import LimitsConfig
from cip.db.batching import Batch
from cip.db.queries import Executor
from cip.db.store import rate_counters

MINUTE = 60
HOUR = 3600


class Clock:
    """The time that places rate-limit windows: the wall clock, in epoch seconds."""

    def now(self) -> float:
        return time.time()


def private(value: str) -> str:
    """A bucket part for personal data (an email address): stable, but not the address."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def cabinet_limits(
    tenant_id: UUID, limits: LimitsConfig, *, user_id: str, ip: str, write: bool
) -> dict[str, int]:
    """A cabinet request's rate-limit buckets, each with the hits a minute allows: reads and
    writes counted apart, each per visitor and per client address, in one tenant."""
    if write:
        kind, per_user, per_ip = (
            "write",
            limits.cabinet_writes_per_user_per_minute,
            limits.cabinet_writes_per_ip_per_minute,
        )
    else:
        kind, per_user, per_ip = (
            "read",
            limits.cabinet_reads_per_user_per_minute,
            limits.cabinet_reads_per_ip_per_minute,
        )
    return {
        f"cabinet-{kind}:user:{tenant_id}:{user_id}": per_user,
        f"cabinet-{kind}:ip:{tenant_id}:{ip}": per_ip,
    }


@dataclass(frozen=True, slots=True)
class CounterRow:
    bucket: str
    hits: int  # this hit's place in the window: 1 for the window's first
    retry_after: int  # whole seconds left in the window


Hits = tuple[tuple[str, ...], int]  # one request's buckets, and the window they count in


class RateLimiter:
    """Counts hits in the shared counters. Concurrent requests' hits go in one statement
    (`cip.db.batching`): a burst from one address counts in its bucket's row once per
    statement, not once per request, and each request is told its own place in the count."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock
        self._hits: Batch[Hits, list[CounterRow]] = Batch(pool.acquire, self._count)

    async def hit(
        self, buckets: Sequence[str], window: int, *, within: float | None = None
    ) -> list[CounterRow]:
        """Count one hit in every bucket; the new counts (`StillQueued`, nothing counted, when
        the hit waited `within` seconds to be sent)."""
        return await self._hits((tuple(buckets), window), within=within)

    async def _count(self, db: Executor, requests: list[Hits]) -> list[list[CounterRow]]:
        at = self._clock.now()
        wanted = Counter((bucket, window) for buckets, window in requests for bucket in buckets)
        rows = await rate_counters.hit(
            db,
            buckets=[bucket for bucket, _ in wanted],
            windows=[window for _, window in wanted],
            hits=list(wanted.values()),
            at=at,
        )
        total = {(row.bucket, row.window_start): row.hits for row in rows}
        placed: Counter[tuple[str, int]] = Counter()
        counted: list[list[CounterRow]] = []
        for buckets, window in requests:
            start = math.floor(at / window) * window
            retry_after = math.ceil(start + window - at)
            counts: list[CounterRow] = []
            for bucket in buckets:
                placed[bucket, window] += 1
                # the hits before this statement, then this request's place among its own
                hits = total[bucket, start] - wanted[bucket, window] + placed[bucket, window]
                counts.append(CounterRow(bucket, hits, retry_after))
            counted.append(counts)
        return counted

    async def check(
        self,
        limits: Mapping[str, int],
        window: int,
        detail: str | None = None,
        *,
        within: float | None = None,
    ) -> None:
        """Count this request in every bucket of `limits` (bucket -> most hits a window
        allows), in one statement; 429 with Retry-After past any of them."""
        counts = await self.hit(list(limits), window, within=within)
        over = [c for c in counts if c.hits > limits[c.bucket]]
        if over:
            deciding = max(over, key=lambda c: c.retry_after)  # its window ends last
            metrics.RATE_LIMITED.labels(metrics.rule_of(deciding.bucket)).inc()
            raise errors.RateLimited(deciding.retry_after, detail)

    async def allows(self, bucket: str, limit: int, window: int) -> bool:
        """Count a hit; whether the window still holds at most `limit` hits (no error)."""
        return all(c.hits <= limit for c in await self.hit([bucket], window))

    async def forgive(self, buckets: Sequence[str], window: int) -> None:
        """Take back the hit of an attempt that succeeded (counted first, so that a burst
        cannot race past the limit)."""
        await rate_counters.forgive(
            self._pool, buckets=buckets, window=window, at=self._clock.now()
        )
