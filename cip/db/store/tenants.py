"""Tenants: lookups by slug and id, creation, the tenants of the config file, switching one off
and on, and deleting its row."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip import errors
from cip.db.queries import Executor, queries

Q = queries("tenants")
CHANNEL = "cip_tenant"  # where `announce` tells every instance that a tenant changed


class TenantRow(BaseModel):
    id: UUID
    slug: str
    name: str
    settings: dict[str, Any]  # what `cip.tenancy` reads a tenant's settings from
    created_at: datetime
    disabled_at: datetime | None  # set while the tenant is switched off


def tenant_not_found() -> errors.NotFound:
    return errors.NotFound(errors.TENANT_NOT_FOUND, code="tenant_not_found")


def _row(record: asyncpg.Record | None) -> TenantRow:
    if record is None:
        raise tenant_not_found()
    return TenantRow.model_validate(dict(record))


async def by_slug(db: Executor, *, slug: str) -> TenantRow:
    return _row(await Q.by_slug.fetchrow(db, slug=slug))


async def by_id(db: Executor, *, tenant_id: UUID) -> TenantRow:
    return _row(await Q.by_id.fetchrow(db, tenant_id=tenant_id))


async def list_all(db: Executor) -> list[TenantRow]:
    return [_row(record) for record in await Q.list_all.fetch(db)]


async def create(db: Executor, *, slug: str, name: str, settings: dict[str, Any]) -> TenantRow:
    return _row(await Q.create.fetchrow(db, slug=slug, name=name, settings=settings))


async def upsert(
    db: Executor, *, slug: str, name: str | None, settings: dict[str, Any]
) -> TenantRow:
    """Create the tenant, or update it: a missing name keeps the stored one, the given
    settings keys replace the stored ones."""
    return _row(await Q.upsert.fetchrow(db, slug=slug, name=name, settings=settings))


async def set_disabled(db: Executor, *, slug: str, disabled: bool) -> TenantRow:
    """Switch the tenant off (it keeps the moment it first was) or on; NotFound for an
    unknown slug."""
    return _row(await Q.set_disabled.fetchrow(db, slug=slug, disabled=disabled))


async def delete(db: Executor, *, tenant_id: UUID) -> None:
    """The tenant row; what still references it goes with it (foreign keys cascade)."""
    await Q.delete.execute(db, tenant_id=tenant_id)


async def announce(db: Executor, *, tenant_id: UUID) -> None:
    """Every instance drops its cached copy of the tenant (when the transaction commits)."""
    await Q.announce.execute(db, tenant_id=tenant_id)
