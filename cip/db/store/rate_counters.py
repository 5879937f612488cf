"""The counters of the fixed-window rate limits (`rate_counter`), shared by every instance.

A bucket is a string naming what is limited (`login:ip:<tenant>:203.0.113.7`); a window is a
number of seconds aligned to the epoch, placed by the caller's clock (`at`, epoch seconds).
The rules built on them live in `cip.limits`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from cip.db.queries import Executor, queries

Q = queries("rate_counters")


class WindowRow(BaseModel):
    bucket: str
    window_start: int  # epoch seconds
    hits: int


async def hit(
    db: Executor, *, buckets: Sequence[str], windows: Sequence[int], hits: Sequence[int], at: float
) -> list[WindowRow]:
    """Count `hits[i]` more hits in the current window (`windows[i]` seconds long) of
    `buckets[i]`, each (bucket, window) named once; the windows' new counts."""
    records = await Q.hit.fetch(
        db, buckets=list(buckets), windows=list(windows), hits=list(hits), at=at
    )
    return [WindowRow.model_validate(dict(record)) for record in records]


async def forgive(db: Executor, *, buckets: Sequence[str], window: int, at: float) -> None:
    """Take back one hit of every bucket's current window."""
    await Q.forgive.execute(db, buckets=list(buckets), window=window, at=at)


async def prune(db: Executor, *, keep_seconds: int, at: float) -> None:
    """Drop the windows that started more than `keep_seconds` before `at`."""
    await Q.prune.execute(db, keep_seconds=keep_seconds, at=at)
