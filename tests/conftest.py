"""Shared fixtures: a real PostgreSQL with the real migrations, and the app built on it.

With `CIP_TEST_DATABASE_URL` the suite creates a fresh database on that server for the run
(and drops it afterwards); without it, an embedded PostgreSQL in a temporary folder serves.
Tests stay independent by creating their own tenants.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from cip.app import create_app
from cip.config import Config, build_config
from cip.db.embedded import start_embedded
from cip.db.migrations import apply_migrations
from cip.db.pool import init_connection
from cip.db.store import tenants
from cip.db.store.tenants import TenantRow
from support.clock import ManualClock
from support.database import ROOT, TEST_SECRET, DatabaseServer

if TYPE_CHECKING:  # imported here, a plugin module would escape pytest's assert rewriting
    from support.fixtures import Client

# In an order where no plugin imports another before pytest does.
pytest_plugins = [
    "support.browser",
    "support.fake_llm",
    "support.chat_client",
    "support.cabinet_data",
    "support.smtp_server",
    "support.process_server",
    "support.proxy",
    "support.widget_host",
]


@pytest.fixture(scope="session")
def database_server() -> Iterator[DatabaseServer]:
    url = os.environ.get("CIP_TEST_DATABASE_URL")
    if url:
        server = DatabaseServer(url.replace("postgresql+asyncpg://", "postgresql://"))
        yield server
        server.drop_all()
        return
    with tempfile.TemporaryDirectory(prefix="cip-pg-") as folder:
        embedded = start_embedded(Path(folder))
        try:
            yield DatabaseServer(embedded.get_uri())
        finally:
            embedded.cleanup()


@pytest.fixture(scope="session")
def database_url(database_server: DatabaseServer) -> str:
    """A fresh database for this run, migrated once with the real migrations."""
    url = database_server.create_database()
    apply_migrations(url)
    return url


@pytest.fixture
def make_config(database_url: str, tmp_path: Path) -> Callable[..., Config]:
    """Build a validated config for a test; keyword sections override the defaults."""

    def make(**sections: Any) -> Config:
        raw: dict[str, Any] = {
            "server": {"state_dir": str(tmp_path / "var")},
            "database": {
                "url": database_url,
                "auto_migrate": False,
                "pool_min_size": 1,
                "pool_max_size": 10,
            },
            "auth": {"jwt_secret": TEST_SECRET, "bcrypt_cost": 4},
            "prompts": {
                "default_file": str(ROOT / "prompts/system_prompt.txt"),
                "directory": str(ROOT / "prompts"),
            },
        }
        for section, values in sections.items():
            raw[section] = (
                {**raw.get(section, {}), **values} if isinstance(values, dict) else values
            )
        return build_config(raw, root=ROOT, environ={})

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def clock() -> ManualClock:
    """The rate-limit clock of the apps a test builds."""
    return ManualClock()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, clock: ManualClock) -> Client:
    return await aiohttp_client(create_app(config, clock=clock))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4, init=init_connection)
    yield pool
    await pool.close()


@pytest.fixture
def new_tenant(pool: asyncpg.Pool) -> Callable[..., Awaitable[TenantRow]]:
    """Create a tenant with a fresh slug (tests never share tenants)."""

    async def create(locale: str = "ru", **settings: Any) -> TenantRow:
        slug = f"t-{uuid.uuid4().hex[:12]}"
        return await tenants.create(
            pool, slug=slug, name=f"Tenant {slug}", settings={"locale": locale, **settings}
        )

    return create
