"""Visitor profiles: display name and contact per (tenant, user), plus the account email."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from cip.db.queries import Executor, queries

Q = queries("profiles")


class ProfileRow(BaseModel):
    user_id: str
    tenant_id: UUID
    display_name: str | None
    contact: str | None
    email: str | None
    updated_at: datetime | None


async def get(
    db: Executor, *, tenant_id: UUID, user_id: str, account_id: UUID | None
) -> ProfileRow:
    record = await Q.by_user.fetchrow(
        db, tenant_id=tenant_id, user_id=user_id, account_id=account_id
    )
    assert record is not None  # the statement always yields its one row
    return ProfileRow.model_validate(dict(record))


async def update(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    account_id: UUID | None,
    changes: Mapping[str, str | None],
) -> ProfileRow:
    """Write the fields named in `changes` (None clears one); the others keep their value."""
    record = await Q.upsert.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        account_id=account_id,
        set_display_name="display_name" in changes,
        display_name=changes.get("display_name"),
        set_contact="contact" in changes,
        contact=changes.get("contact"),
    )
    assert record is not None  # an upsert always returns its row
    return ProfileRow.model_validate(dict(record))
