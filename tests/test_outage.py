"""PostgreSQL outages: with the database stopped, calls answer 503 JSON at once, /readyz says
503, and the service recovers by itself when the database returns. The test owns an embedded
PostgreSQL so it can stop and start it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cip import db
from cip.app import create_app

NO_HANG_SECONDS = 5  # a guard against hanging, not a performance threshold


class OwnedPostgres:
    def __init__(self, folder: Path) -> None:
        self.server = db.start_embedded(folder)
        self.url = self.server.get_uri(database=db.EMBEDDED_DATABASE)

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def owned_postgres() -> Iterator[OwnedPostgres]:
    with tempfile.TemporaryDirectory(prefix="cip-outage-") as folder:
        postgres = OwnedPostgres(Path(folder))
        db.apply_migrations(postgres.url)
        try:
            yield postgres
        finally:
            postgres.start()
            postgres.server.cleanup()


async def get(client: Any, path: str) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(NO_HANG_SECONDS):
        response = await client.get(path)
        return response.status, await response.json()


async def test_database_outage_fails_fast_and_recovers(aiohttp_client, make_config,
                                                       owned_postgres: OwnedPostgres) -> None:
    config = make_config(database={"url": owned_postgres.url, "pool_min_size": 2})
    client = await aiohttp_client(create_app(config))
    assert await get(client, "/readyz") == (200, {"status": "ok", "database": "ok"})
    assert (await get(client, "/api/v1/tenants/by-slug/demo"))[0] == 200

    await asyncio.to_thread(owned_postgres.stop)
    for attempt in range(3):  # pooled connections that died, then fresh connection attempts
        status, body = await get(client, f"/api/v1/tenants/by-slug/not-cached-{attempt}")
        assert (status, body["code"]) == (503, "database_unavailable")
    assert await get(client, "/readyz") == (503, {"status": "unavailable", "database": "unavailable"})
    assert (await get(client, "/healthz"))[0] == 200

    await asyncio.to_thread(owned_postgres.start)
    status, body = await get(client, "/api/v1/tenants/by-slug/demo")
    assert (status, body["slug"]) == (200, "demo")
    assert (await get(client, "/readyz"))[0] == 200
