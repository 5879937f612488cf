"""A visitor's dialogs as the cabinet reads them: a page of summaries, one dialog in full."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from cip.db.queries import Executor, queries
from cip.db.store.messages import MessageStatus, dialog_not_found

Q = queries("dialogs")
# Characters of the first question (the title of a dialog without one) and of the preview.
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
    status: MessageStatus  # as stored: see `cip.chat.replies` for what a reader is shown
    created_at: datetime
    updated_at: datetime


class DialogRow(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    checked_at: datetime  # the database's clock when it was read
    messages: list[MessageRow]


async def list_page(
    db: Executor, *, tenant_id: UUID, user_id: str, limit: int, offset: int
) -> DialogPage:
    records = await Q.list_page.fetch(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        limit=limit,
        offset=offset,
        snippet_chars=SNIPPET_CHARS,
    )
    return DialogPage(
        total=records[0]["total"],
        items=[
            DialogSummaryRow.model_validate(dict(record))
            for record in records
            if record["id"] is not None
        ],
    )


async def with_messages(
    db: Executor, *, tenant_id: UUID, user_id: str, dialog_id: UUID
) -> DialogRow:
    """The dialog with its messages oldest first; 404 unless the dialog is this user's."""
    records = await Q.with_messages.fetch(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        dialog_id=dialog_id,
        snippet_chars=SNIPPET_CHARS,
    )
    if not records:
        raise dialog_not_found()
    head = records[0]
    messages = [
        MessageRow(
            id=record["message_id"],
            role=record["role"],
            content=record["content"],
            status=record["status"],
            created_at=record["message_created_at"],
            updated_at=record["message_updated_at"],
        )
        for record in records
        if record["message_id"] is not None
    ]
    return DialogRow(
        id=head["id"],
        title=head["title"],
        created_at=head["created_at"],
        updated_at=head["updated_at"],
        checked_at=head["checked_at"],
        messages=messages,
    )
