"""The database: where it is (a URL or an embedded server), its schema, and the pool.

When `[database] url` is empty an embedded PostgreSQL (the `pgserver` package) is started with
its data under `<state_dir>/pgdata`, kept between runs. Migrations are yoyo's, applied through
a synchronous driver in a worker thread; the service itself talks to PostgreSQL through one
asyncpg pool.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import asyncpg
import orjson

from cip.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
EMBEDDED_DATABASE = "cip"


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached or did not answer in time."""


@contextmanager
def database_url(config: Config) -> Iterator[str]:
    """Yield the URL to use; start (and finally release) an embedded server if none is set."""
    if config.database.url:
        yield config.database.url
        return
    server = start_embedded(config.server.state_dir)
    try:
        yield server.get_uri(database=EMBEDDED_DATABASE)
    finally:
        server.cleanup()


def start_embedded(state_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL kept under `state_dir` and ensure its database."""
    import psycopg

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only setups without a database URL need it

    state_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(state_dir / "pgdata", cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    log.info("embedded PostgreSQL running, data in %s", state_dir / "pgdata")
    return server


def _yoyo_url(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


def migration_ids() -> set[str]:
    return {path.stem for path in MIGRATIONS_DIR.glob("*.sql")}


def apply_migrations(url: str) -> list[str]:
    """Apply pending migrations; return the ids applied (empty when up to date)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [migration.id for migration in pending]
    finally:
        backend.connection.close()


async def init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await connection.set_type_codec(
            type_name, schema="pg_catalog",
            encoder=lambda value: orjson.dumps(value).decode(), decoder=orjson.loads,
        )


class BoundedPool(asyncpg.Pool):
    """A pool whose every acquire (its own `fetch`/`execute` helpers included) waits at most
    `acquire_timeout`: when every connection is busy or PostgreSQL hangs, a request fails fast
    with `asyncio.TimeoutError` (answered 503) instead of queueing without end."""

    acquire_timeout: float | None = None

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Pool release hook. The service leaves no session state behind (no SET, LISTEN,
    advisory lock or cursor outside a transaction), so asyncpg's default reset query would
    cost a round trip on every release and undo nothing; asyncpg still rolls back a
    transaction left open before it calls this."""


async def create_pool(url: str, config: Config) -> asyncpg.Pool:
    settings = config.database
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
    return await pool


async def is_ready(pool: asyncpg.Pool, timeout: float) -> bool:
    """The database answers and every migration in the repository is applied."""
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as connection:
                applied = await connection.fetch("SELECT migration_id FROM _yoyo_migration")
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return migration_ids() <= {row["migration_id"] for row in applied}


def pool_context(config: Config) -> Callable[[Any], AsyncIterator[None]]:
    """Cleanup context: database (embedded if no URL), migrations, config tenants, pool."""
    from cip import keys
    from cip.store.tenants import sync_config_tenants
    from cip.tenant_cache import TenantCache

    async def context(app: Any) -> AsyncIterator[None]:
        server = None
        url = config.database.url
        if not url:
            server = await asyncio.to_thread(start_embedded, config.server.state_dir)
            url = server.get_uri(database=EMBEDDED_DATABASE)
        try:
            if config.database.auto_migrate:
                applied = await asyncio.to_thread(apply_migrations, url)
                if applied:
                    log.info("applied migrations: %s", ", ".join(applied))
            pool = await create_pool(url, config)
            try:
                if config.tenants:
                    async with pool.acquire() as connection:
                        await sync_config_tenants(connection, config)
                app[keys.POOL] = pool
                app[keys.TENANTS] = TenantCache(pool, ttl=config.server.tenant_cache_seconds)
                yield
            finally:
                await pool.close()
        finally:
            if server is not None:
                await asyncio.to_thread(server.cleanup)

    return context
