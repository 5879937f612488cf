"""The asyncpg pool every request shares, and `open_database`: the database a running service
needs (embedded if no URL is set, migrated when `auto_migrate` is on) with its pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from cip import errors
from cip.config import Config, DatabaseConfig
from cip.db.embedded import database_url
from cip.db.migrations import apply_migrations, migration_ids
from cip.db.queries import Executor

log = logging.getLogger(__name__)


async def init_connection(connection: asyncpg.Connection) -> None:
    """jsonb and json as Python values, through orjson."""
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(
            type_name,
            schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
        )


# The database cannot be reached, or did not answer in time: the driver's errors, and the
# socket's (a refused or broken connection) and timeouts (connect, acquire, command).
UNREACHABLE = (
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    OSError,
    TimeoutError,
)


class BoundedPool(asyncpg.Pool):
    """A pool whose every acquire (its own `fetch`/`execute` helpers included) waits at most
    `acquire_timeout`: when every connection is busy or PostgreSQL hangs, a request fails fast
    instead of queueing without end. Failing to reach the database, while acquiring or while
    using the connection, is `errors.DatabaseUnavailable` (answered 503): only what happens
    here is the database's fault, not a client's broken connection elsewhere. `waiting`
    counts the callers not yet given their connection (the metrics' `cip_db_pool_waiting`)."""

    acquire_timeout: float | None = None
    url = ""  # where it connects: for a connection of its own beside the pool (LISTEN)
    waiting = 0

    def acquire(self, *, timeout: float | None = None) -> Any:
        return self._reaching(self.acquire_timeout if timeout is None else timeout)

    @asynccontextmanager
    async def _reaching(self, timeout: float | None) -> AsyncIterator[PoolConnectionProxy]:
        try:
            self.waiting += 1
            try:
                connection = await super().acquire(timeout=timeout)
            finally:
                self.waiting -= 1
            try:
                yield connection
            finally:
                await self.release(connection)
        except UNREACHABLE as exc:
            raise errors.DatabaseUnavailable() from exc


async def keep_session(connection: asyncpg.Connection) -> None:
    """Pool release hook. The service leaves no session state behind (no SET, LISTEN,
    advisory lock or cursor outside a transaction), so asyncpg's default reset query would
    cost a round trip on every release and undo nothing; asyncpg still rolls back a
    transaction left open before it calls this."""


async def create_pool(url: str, settings: DatabaseConfig) -> BoundedPool:
    pool = BoundedPool(
        url,
        min_size=min(settings.pool_min_size, settings.pool_max_size),
        max_size=settings.pool_max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=settings.connect_timeout,
        command_timeout=settings.command_timeout,
        init=init_connection,
        reset=keep_session,
    )
    pool.acquire_timeout = settings.acquire_timeout
    pool.url = url
    await pool
    return pool


async def migrate_on_start(url: str, settings: DatabaseConfig) -> None:
    """Apply pending migrations when `auto_migrate` is on."""
    if settings.auto_migrate:
        applied = await asyncio.to_thread(apply_migrations, url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))


@asynccontextmanager
async def open_database(config: Config) -> AsyncIterator[BoundedPool]:
    """The database (embedded if no URL), migrated when `auto_migrate` is on, and its pool."""
    async with database_url(config) as url:
        await migrate_on_start(url, config.database)
        pool = await create_pool(url, config.database)
        try:
            yield pool
        finally:
            await pool.close()


async def unapplied_migrations(db: Executor) -> set[str]:
    """The ids of the repository's migrations the database lacks (all of them on a database
    never migrated)."""
    try:
        applied = await db.fetch("SELECT migration_id FROM _yoyo_migration")
    except asyncpg.UndefinedTableError:
        return migration_ids()
    return migration_ids() - {row["migration_id"] for row in applied}


async def is_ready(pool: asyncpg.Pool, timeout: float) -> bool:
    """The database answers and every migration in the repository is applied."""
    try:
        async with asyncio.timeout(timeout), pool.acquire() as connection:
            return not await unapplied_migrations(connection)
    except (errors.DatabaseUnavailable, OSError, TimeoutError, asyncpg.PostgresError):
        return False


async def check_connection_budget(db: Executor, settings: DatabaseConfig, processes: int) -> None:
    """Warn when `processes` pools of `pool_max_size` connections each may ask PostgreSQL for
    more than its `max_connections`: at the peak, the connections past it are refused and
    their requests answered 503. Skipped when the database cannot be reached: the service
    starts without it (`/readyz` tells)."""
    wanted = processes * settings.pool_max_size
    try:
        max_connections = int(await db.fetchval("SHOW max_connections"))
    except (errors.DatabaseUnavailable, *UNREACHABLE):
        return
    if wanted > max_connections:
        log.warning(
            "%d process(es) x [database] pool_max_size %d = %d connections, more than "
            "PostgreSQL's max_connections (%d): lower pool_max_size or [server] workers, "
            "or raise max_connections",
            processes,
            settings.pool_max_size,
            wanted,
            max_connections,
        )
