"""A visitor's dialogs as the cabinet reads them: a page of summaries, one dialog in full."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.errors import DIALOG_NOT_FOUND, NotFound
from cip.sql import queries
from cip.store.message_status import MessageStatus, effective_status

Q = queries("dialog_history")
Executor = asyncpg.Connection | asyncpg.Pool
# Characters of the first user message (title fallback) and of the last message (preview).
SNIPPET_CHARS = 120


class DialogSummaryRow(BaseModel):
    id: UUID
    title: str
    preview: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int


class DialogPage(BaseModel):
    total: int
    items: list[DialogSummaryRow]


class MessageRow(BaseModel):
    id: UUID
    role: str
    content: str
    status: MessageStatus
    created_at: datetime


class DialogRow(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[MessageRow]


def display_title(stored: str, messages: list[MessageRow]) -> str:
    """The stored title, or (while none is stored) the start of the first user message, as
    `list_page` computes it in SQL."""
    if stored:
        return stored
    first = next((message.content for message in messages if message.role == "user"), "")
    return first[:SNIPPET_CHARS]


def dialog_not_found() -> NotFound:
    return NotFound(DIALOG_NOT_FOUND, code="dialog_not_found")


async def list_page(db: Executor, tenant_id: UUID, user_id: str, *, limit: int,
                    offset: int) -> DialogPage:
    records = await db.fetch(Q.list_page, tenant_id, user_id, limit, offset, SNIPPET_CHARS)
    return DialogPage(
        total=records[0]["total"],
        items=[DialogSummaryRow.model_validate(dict(record)) for record in records
               if record["id"] is not None],
    )


async def with_messages(db: Executor, tenant_id: UUID, user_id: str, dialog_id: UUID, *,
                        stream_timeout: timedelta) -> DialogRow:
    """The dialog with its messages oldest first; `streaming` rows older than
    `stream_timeout` are reported `interrupted`. 404 unless the dialog is this user's."""
    records = await db.fetch(Q.with_messages, tenant_id, dialog_id, user_id)
    if not records:
        raise dialog_not_found()
    head = records[0]
    messages = [
        MessageRow(id=record["message_id"], role=record["role"], content=record["content"],
                   created_at=record["message_created_at"],
                   status=effective_status(record["status"], record["message_updated_at"],
                                           record["checked_at"], stream_timeout))
        for record in records if record["message_id"] is not None
    ]
    return DialogRow(id=head["id"], title=display_title(head["title"], messages),
                     created_at=head["created_at"],
                     updated_at=head["updated_at"], messages=messages)
