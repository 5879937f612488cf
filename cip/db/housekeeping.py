"""Rows nobody needs any more: rate-limit windows that ended long ago, tokens long expired."""

from __future__ import annotations

from cip.db.queries import Executor
from cip.db.store import credentials, rate_counters

# Counter windows that started longer ago than this are dropped; every window is shorter.
KEEP_COUNTERS_SECONDS = 24 * 3600
INTERVAL_SECONDS = 600.0  # how often a running service tidies up


async def prune(db: Executor, *, at: float) -> None:
    """One round of cleanup; `at` is the rate-limit clock's time."""
    await rate_counters.prune(db, keep_seconds=KEEP_COUNTERS_SECONDS, at=at)
    await credentials.prune_tokens(db)
