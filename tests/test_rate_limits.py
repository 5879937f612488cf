"""The fixed-window limiter shared by login throttling and the request limits."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from cip import errors
from cip.db.housekeeping import prune
from cip.limits import HOUR, MINUTE, RateLimiter
from support.clock import ManualClock


def bucket(name: str) -> str:
    return f"test:{name}:{uuid.uuid4().hex}"


@pytest.fixture
def limiter(pool: Any, clock: ManualClock) -> RateLimiter:
    return RateLimiter(pool, clock)


async def test_hits_count_per_bucket_in_one_statement(limiter: RateLimiter) -> None:
    a, b = bucket("a"), bucket("b")
    first = await limiter.hit([a, b], MINUTE)
    second = await limiter.hit([a], MINUTE)
    assert sorted((c.bucket, c.hits, c.retry_after) for c in first) == sorted(
        [(a, 1, 59), (b, 1, 59)]
    )
    assert [(c.bucket, c.hits, c.retry_after) for c in second] == [(a, 2, 59)]


async def test_a_burst_counts_each_hit_once_in_few_statements(
    pool: Any, clock: ManualClock
) -> None:
    """200 concurrent requests from one address: each is told its own place in the count
    (1 to 200, as if they had come one by one), exactly `limit` pass, the shared row holds
    every hit, and they went to the database in far fewer statements than requests."""
    statements = 0

    class Counting:
        """The pool, counting the statements sent on the connections it lends."""

        @contextlib.asynccontextmanager
        async def acquire(self) -> Any:
            async with pool.acquire() as connection:
                yield Counted(connection)

    class Counted:
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        async def fetch(self, query: str, *args: Any) -> Any:
            nonlocal statements
            statements += 1
            return await self.connection.fetch(query, *args)

    limiter = RateLimiter(Counting(), clock)  # type: ignore[arg-type]
    shared, limit = bucket("shared"), 150

    async def one(n: int) -> tuple[list[int], bool]:
        own = bucket(f"own{n}")
        counts = [c.hits for c in await limiter.hit([shared, own], MINUTE)]
        try:
            await limiter.check({bucket(f"check{n}"): 1, shared + "-check": limit}, MINUTE)
        except errors.RateLimited:
            return counts, False
        return counts, True

    results = await asyncio.gather(*(one(n) for n in range(200)))
    assert sorted(counts[0] for counts, _ in results) == list(range(1, 201))
    assert all(counts[1] == 1 for counts, _ in results)
    assert sum(passed for _, passed in results) == limit
    stored = await pool.fetchval("SELECT hits FROM rate_counter WHERE bucket = $1", shared)
    assert stored == 200
    assert statements < 100


async def test_a_window_ends_on_its_boundary(limiter: RateLimiter, clock: ManualClock) -> None:
    name = bucket("boundary")
    clock.advance(MINUTE - 2)  # the last second of the first minute
    assert [(c.hits, c.retry_after) for c in await limiter.hit([name], MINUTE)] == [(1, 1)]
    clock.advance(1)  # the next minute: a new window
    assert [(c.hits, c.retry_after) for c in await limiter.hit([name], MINUTE)] == [(1, MINUTE)]


async def test_check_refuses_past_the_limit_with_retry_after(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    name = bucket("check")
    for _ in range(3):
        await limiter.check({name: 3}, HOUR)
    clock.advance(100)
    with pytest.raises(errors.RateLimited) as refused:
        await limiter.check({name: 3}, HOUR, "Slow down.")
    assert refused.value.status == 429
    assert refused.value.detail == "Slow down."
    assert refused.value.headers["Retry-After"] == str(HOUR - 101)
    assert await limiter.allows(bucket("allows"), 1, MINUTE) is True


async def test_forgive_takes_back_a_hit(limiter: RateLimiter) -> None:
    name = bucket("forgive")
    await limiter.hit([name], MINUTE)
    await limiter.forgive([name], MINUTE)
    assert [c.hits for c in await limiter.hit([name], MINUTE)] == [1]


async def test_old_windows_are_pruned(pool: Any, limiter: RateLimiter, clock: ManualClock) -> None:
    old, current = bucket("old"), bucket("current")
    await limiter.hit([old], MINUTE)
    clock.advance(2 * 24 * HOUR)
    await limiter.hit([current], MINUTE)
    await prune(pool, at=clock.now())
    left = await pool.fetch(
        "SELECT bucket FROM rate_counter WHERE bucket = ANY($1)", [old, current]
    )
    assert [row["bucket"] for row in left] == [current]
