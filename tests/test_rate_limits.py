"""The fixed-window limiter shared by login throttling and the request limits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cip import errors, housekeeping
from cip.store import rate_limits
from rate_windows import within_one_window


def bucket(name: str) -> str:
    return f"test:{name}:{uuid.uuid4().hex}"


async def test_hits_count_per_bucket_in_one_statement(pool: Any) -> None:
    a, b = bucket("a"), bucket("b")
    await within_one_window(60, needed=5)
    first = await rate_limits.hit(pool, [a, b], 60)
    second = await rate_limits.hit(pool, [a], 60)
    assert sorted((c.bucket, c.hits) for c in first) == sorted([(a, 1), (b, 1)])
    assert [(c.bucket, c.hits) for c in second] == [(a, 2)]
    assert all(1 <= c.retry_after <= 60 for c in first + second)
    peeked = await rate_limits.peek(pool, [a, b, bucket("never")], 60)
    assert sorted((c.bucket, c.hits) for c in peeked) == sorted([(a, 2), (b, 1)])


async def test_enforce_refuses_past_the_limit_with_retry_after(pool: Any) -> None:
    name = bucket("enforce")
    await within_one_window(3600, needed=5)
    for _ in range(3):
        await rate_limits.enforce(pool, name, 3, 3600)
    with pytest.raises(errors.RateLimited) as refused:
        await rate_limits.enforce(pool, name, 3, 3600)
    assert refused.value.status == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 3600
    assert await rate_limits.within(pool, bucket("within"), 1, 60) is True


async def test_old_windows_are_pruned(pool: Any) -> None:
    old, current = bucket("old"), bucket("current")
    await pool.execute("INSERT INTO rate_counter (bucket, window_start, hits) "
                       "VALUES ($1, now() - interval '2 days', 5)", old)
    await rate_limits.hit(pool, [current], 60)
    await housekeeping.prune(pool)
    left = await pool.fetch("SELECT bucket FROM rate_counter WHERE bucket = ANY($1)", [old, current])
    assert [row["bucket"] for row in left] == [current]
