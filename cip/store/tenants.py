"""Tenants: lookups by slug and id, creation, and the config-file tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.config import ORIGIN_PATTERN, Config
from cip.errors import TENANT_NOT_FOUND, NotFound
from cip.sql import queries

Q = queries("tenants")
Executor = asyncpg.Connection | asyncpg.Pool


class TenantRow(BaseModel):
    id: UUID
    slug: str
    name: str
    settings: dict[str, Any]
    created_at: datetime

    @property
    def locale(self) -> Literal["ru", "en"]:
        return "en" if self.settings.get("locale") == "en" else "ru"

    @property
    def allowed_origins(self) -> list[str]:
        """Origins that may embed the pages and call the API, normalised; malformed stored
        entries are dropped, so nothing in settings can break out of a header."""
        origins = self.settings.get("allowed_origins") or []
        stripped = (origin.rstrip("/") for origin in origins if isinstance(origin, str))
        return list(dict.fromkeys(origin for origin in stripped if ORIGIN_PATTERN.match(origin)))

    @property
    def welcome_message(self) -> str | None:
        return self.settings.get("welcome_message")


def tenant_not_found() -> NotFound:
    return NotFound(TENANT_NOT_FOUND, code="tenant_not_found")


def _row(record: asyncpg.Record | None) -> TenantRow:
    if record is None:
        raise tenant_not_found()
    return TenantRow.model_validate(dict(record))


async def by_slug(db: Executor, slug: str) -> TenantRow:
    return _row(await db.fetchrow(Q.by_slug, slug))


async def by_id(db: Executor, tenant_id: UUID) -> TenantRow:
    return _row(await db.fetchrow(Q.by_id, tenant_id))


async def list_all(db: Executor) -> list[TenantRow]:
    return [_row(record) for record in await db.fetch(Q.list_all)]


async def create(db: Executor, slug: str, name: str, settings: dict[str, Any]) -> TenantRow:
    return _row(await db.fetchrow(Q.create, slug, name, settings))


async def upsert(db: Executor, slug: str, name: str | None, settings: dict[str, Any]) -> TenantRow:
    return _row(await db.fetchrow(Q.upsert, slug, name, settings))


def config_settings(config: Config, slug: str) -> dict[str, Any]:
    """The settings a `[tenants.<slug>]` section sets (only keys given in the file)."""
    section = config.tenants[slug]
    values = section.model_dump(mode="json", exclude_unset=True, exclude={"name"})
    return values


async def sync_config_tenants(db: Executor, config: Config) -> None:
    """Create or update every tenant named in the config file."""
    for slug, section in config.tenants.items():
        await upsert(db, slug, section.name, config_settings(config, slug))
