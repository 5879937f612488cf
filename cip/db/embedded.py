"""The embedded PostgreSQL (the `pgserver` package) for setups without `[database] url`.

Its data lives under `<state_dir>/pgdata` and is kept between runs; `database_url(config)`
starts (or joins) it for the length of a block and yields the URL of the service's database.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

from cip.config import Config

log = logging.getLogger(__name__)
EMBEDDED_DATABASE = "cip"


def start_embedded(state_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL kept under `state_dir` and ensure its database;
    the `pgserver` server object (its `cleanup()` stops what this call started)."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        # Only setups without a database URL need it (and its import is slow).
        from pgserver.postgres_server import get_server

    state_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(state_dir / "pgdata", cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    log.info("embedded PostgreSQL running, data in %s", state_dir / "pgdata")
    return server


@asynccontextmanager
async def database_url(config: Config) -> AsyncIterator[str]:
    """The URL to use: `[database] url`, or the embedded server's, started for the block."""
    if config.database.url:
        yield config.database.url
        return
    server = await asyncio.to_thread(start_embedded, config.server.state_dir)
    try:
        yield server.get_uri(database=EMBEDDED_DATABASE)
    finally:
        await asyncio.to_thread(server.cleanup)
