"""Shared fixtures: a real PostgreSQL with the real migrations, and the app built on it.

With `CIP_TEST_DATABASE_URL` the suite creates a fresh database on that server for the run
(and drops it afterwards); without it, an embedded PostgreSQL in a temporary folder serves.
Tests stay independent by creating their own tenants.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from aiohttp.test_utils import TestClient

from cip import db
from cip.app import create_app
from cip.config import Config, build_config
from cip.store import tenants

pytest_plugins = ["cabinet_data", "fake_llm", "chat_client", "smtp_server", "browser_harness",
                  "process_server"]

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-" + "x" * 59


class DatabaseServer:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        base, _, query = self.admin_url.partition("?")
        server = base.rsplit("/", 1)[0]
        return f"{server}/{name}" + (f"?{query}" if query else "")

    def create_database(self, prefix: str = "cip_test") -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            for name in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_server() -> Iterator[DatabaseServer]:
    url = os.environ.get("CIP_TEST_DATABASE_URL")
    if url:
        server = DatabaseServer(url.replace("postgresql+asyncpg://", "postgresql://"))
        yield server
        server.drop_all()
        return
    with tempfile.TemporaryDirectory(prefix="cip-pg-") as folder:
        embedded = db.start_embedded(Path(folder))
        try:
            yield DatabaseServer(embedded.get_uri())
        finally:
            embedded.cleanup()


@pytest.fixture(scope="session")
def database_url(database_server: DatabaseServer) -> str:
    """A fresh database for this run, migrated once with the real migrations."""
    url = database_server.create_database()
    db.apply_migrations(url)
    return url


@pytest.fixture
def make_config(database_url: str, tmp_path: Path) -> Callable[..., Config]:
    """Build a validated config for a test; keyword sections override the defaults."""

    def make(**sections: dict[str, Any]) -> Config:
        raw: dict[str, Any] = {
            "server": {"state_dir": str(tmp_path / "var")},
            "database": {"url": database_url, "auto_migrate": False, "pool_min_size": 1,
                         "pool_max_size": 10},
            "auth": {"jwt_secret": TEST_SECRET, "bcrypt_cost": 4},
            "prompts": {"default_file": str(ROOT / "prompts/system_prompt.txt"),
                        "directory": str(ROOT / "prompts")},
        }
        for section, values in sections.items():
            raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
        return build_config(raw, root=ROOT, environ={})

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient:
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4, init=db.init_connection)
    yield pool
    await pool.close()


@pytest.fixture
def new_tenant(pool: asyncpg.Pool) -> Callable[..., Any]:
    """Create a tenant with a fresh slug (tests never share tenants)."""

    async def create(locale: str = "ru", **settings: Any) -> tenants.TenantRow:
        slug = f"t-{uuid.uuid4().hex[:12]}"
        return await tenants.create(pool, slug, f"Tenant {slug}", {"locale": locale, **settings})

    return create
