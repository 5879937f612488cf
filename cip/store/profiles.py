"""Visitor profiles: display name and contact per (tenant, user), plus the account email."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.sql import queries

Q = queries("profiles")
Executor = asyncpg.Connection | asyncpg.Pool


class ProfileRow(BaseModel):
    user_id: str
    tenant_id: UUID
    display_name: str | None
    contact: str | None
    email: str | None
    updated_at: datetime | None


async def get(db: Executor, tenant_id: UUID, user_id: str, account_id: UUID | None) -> ProfileRow:
    record = await db.fetchrow(Q.by_user, tenant_id, user_id, account_id)
    return ProfileRow.model_validate(dict(record))


async def update(db: Executor, tenant_id: UUID, user_id: str, account_id: UUID | None,
                 changes: Mapping[str, str | None]) -> ProfileRow:
    """Write the fields named in `changes` (None clears one); the others keep their value."""
    record = await db.fetchrow(
        Q.upsert, tenant_id, user_id, account_id,
        "display_name" in changes, changes.get("display_name"),
        "contact" in changes, changes.get("contact"),
    )
    return ProfileRow.model_validate(dict(record))
