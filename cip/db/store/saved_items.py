"""Saved items: a visitor's bookmarks of their own messages or of tenant content."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip import errors
from cip.db.queries import Executor, queries
from cip.db.store.messages import MESSAGE_NOT_FOUND, StoredMessage

Q = queries("saved_items")
SavedType = Literal["message", "content"]

SAVED_ITEM_NOT_FOUND = "Saved item not found."
SAVED_ITEMS_FULL = "You have saved {limit} items, the most you can keep. Delete some first."


class SavedMessageRow(StoredMessage):
    dialog_id: UUID


class SavedItemRow(BaseModel):
    id: UUID
    type: SavedType
    reference_id: str
    note: str | None
    created_at: datetime
    message: SavedMessageRow | None


class SavedPage(BaseModel):
    total: int
    items: list[SavedItemRow]


class SaveResult(BaseModel):
    item: SavedItemRow
    created: bool


def _item(record: asyncpg.Record) -> SavedItemRow:
    message = None
    if record["message_id"] is not None:
        message = SavedMessageRow(
            id=record["message_id"],
            dialog_id=record["dialog_id"],
            role=record["role"],
            content=record["content"],
            html=record["html"],
            status=record["status"],
        )
    return SavedItemRow(
        id=record["id"],
        type=record["type"],
        reference_id=record["reference_id"],
        note=record["note"],
        created_at=record["created_at"],
        message=message,
    )


async def list_page(
    db: Executor, *, tenant_id: UUID, user_id: str, limit: int, offset: int
) -> SavedPage:
    records = await Q.list_page.fetch(
        db, tenant_id=tenant_id, user_id=user_id, limit=limit, offset=offset
    )
    return SavedPage(
        total=records[0]["total"],
        items=[_item(record) for record in records if record["id"] is not None],
    )


async def save(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    type: SavedType,
    reference_id: str,
    message_id: UUID | None,
    note: str | None,
    max_items: int,
) -> SaveResult:
    """Save a reference, or return the item already saved for it. A `message` reference
    (`message_id` set) must be a message of this user's dialogs: 404 otherwise; a new
    reference needs fewer than `max_items` saved: 409 otherwise. Nothing is written then."""
    record = await Q.save.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        type=type,
        reference_id=reference_id,
        message_id=message_id,
        note=note,
        max_items=max_items,
    )
    assert record is not None  # the checks always yield a row
    if not record["found"]:
        raise errors.NotFound(MESSAGE_NOT_FOUND, code="message_not_found")
    if not record["room"]:
        raise errors.Conflict(SAVED_ITEMS_FULL.format(limit=max_items), code="saved_items_full")
    return SaveResult(item=_item(record), created=record["created"])


async def delete(db: Executor, *, tenant_id: UUID, user_id: str, item_id: UUID) -> None:
    if await Q.delete.fetchval(db, tenant_id=tenant_id, user_id=user_id, item_id=item_id) is None:
        raise errors.NotFound(SAVED_ITEM_NOT_FOUND, code="saved_item_not_found")
