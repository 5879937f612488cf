"""What a query layer with named parameters costs per call, next to asyncpg called with
positional parameters: CIP's own loader (`cip.db.queries`) and aiosql's asyncpg adapter, on
the same statement (`tenants.by_id`), through the same pool.

Two measurements, rounds alternating: each call end to end against PostgreSQL (what a
request pays), and the layer alone against a pool that answers at once (what the layer adds,
without the round trip's noise).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiosql
import asyncpg
from suites import Row

from cip.db.pool import init_connection
from cip.db.queries import queries

CALLS = 2_000
ROUNDS = 7

Call = Callable[[Any, uuid.UUID], Awaitable[object]]


class InstantPool:
    """A pool whose connection answers every statement at once: only the layer is timed."""

    async def fetchrow(self, query: str, *args: object) -> None:
        return None

    async def acquire(self) -> InstantPool:
        return self

    async def release(self, connection: object) -> None:
        return None


def candidates() -> dict[str, Call]:
    statement = queries("tenants").by_id
    positional_sql = statement.sql
    with_aiosql = aiosql.from_str(
        f"-- name: by_id(tenant_id)^\n{statement.sql.replace('$1', ':tenant_id')}", "asyncpg"
    )

    async def positional(db: Any, tenant_id: uuid.UUID) -> object:
        return await db.fetchrow(positional_sql, tenant_id)

    async def own(db: Any, tenant_id: uuid.UUID) -> object:
        return await statement.fetchrow(db, tenant_id=tenant_id)

    async def library(db: Any, tenant_id: uuid.UUID) -> object:
        return await with_aiosql.by_id(db, tenant_id=tenant_id)

    return {"asyncpg, positional": positional, "cip.db.queries": own, "aiosql": library}


async def _per_call_us(call: Call, db: Any, tenant_id: uuid.UUID) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        await call(db, tenant_id)
    return (time.perf_counter() - started) / CALLS * 1e6


async def measure(database_url: str) -> dict[str, dict[str, float]]:
    """Median microseconds per call of each candidate: {"database": ..., "layer": ...}."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1, init=init_connection)
    try:
        tenant_id = await pool.fetchval("SELECT id FROM tenant ORDER BY slug LIMIT 1")
        calls = candidates()
        samples: dict[str, dict[str, list[float]]] = {"database": {}, "layer": {}}
        for _ in range(ROUNDS):
            for name, call in calls.items():
                for kind, db in (("database", pool), ("layer", InstantPool())):
                    samples[kind].setdefault(name, []).append(
                        await _per_call_us(call, db, tenant_id)
                    )
    finally:
        await pool.close()
    return {
        kind: {name: statistics.median(values) for name, values in by_name.items()}
        for kind, by_name in samples.items()
    }


async def rows(database_url: str) -> list[Row]:
    found = await measure(database_url)
    layer, database = found["layer"], found["database"]
    base = layer["asyncpg, positional"]
    measured = ", ".join(
        f"{name} +{layer[name] - base:.1f} µs ({database[name]:.0f} µs with the round trip)"
        for name in ("cip.db.queries", "aiosql")
    )
    return [
        Row(
            "Named parameters: cost per call over positional asyncpg",
            "reported",
            f"{measured}; positional {database['asyncpg, positional']:.0f} µs",
            None,
        )
    ]
