"""A visitor's dialogs as the cabinet reads them: a page of summaries, one dialog in full."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from cip import errors
from cip.db.queries import Executor, queries
from cip.db.store.feedback import Rating
from cip.db.store.messages import StoredMessage, dialog_not_found

Q = queries("dialogs")
# Characters of the first question (the title of a dialog without one) and of the preview.
SNIPPET_CHARS = 120
CURSOR_NOT_FOUND = "`before` is not a message of this dialog."


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


class MessageRow(StoredMessage):
    created_at: datetime
    updated_at: datetime
    superseded: bool  # answered anew (kept, shown, no longer sent upstream)
    answer_number: int  # among the answers to its question, when it has several; else 0
    answers: int  # how many answers its question has, when it has several; else 0
    saved_item_id: UUID | None  # the reader's saved item of this message
    feedback: Rating | None  # the reader's rating of this answer


class DialogRow(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    checked_at: datetime  # the database's clock when it was read
    messages: list[MessageRow]  # one page, oldest first
    has_more: bool  # older messages precede the page


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
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    dialog_id: UUID,
    limit: int,
    before: UUID | None,
) -> DialogRow:
    """The dialog with a page of its messages: the `limit` newest ones older than message
    `before` (or than none), oldest first. 404 unless the dialog is this user's; 400 when
    `before` is no message of it."""
    records = await Q.with_messages.fetch(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        dialog_id=dialog_id,
        limit=limit,
        before=before,
        snippet_chars=SNIPPET_CHARS,
    )
    if not records:
        raise dialog_not_found()
    head = records[0]
    if not head["cursor_found"]:
        raise errors.ValidationFailed(CURSOR_NOT_FOUND, code="invalid_cursor")
    page = [record for record in records if record["message_id"] is not None]
    messages = [
        MessageRow(
            id=record["message_id"],
            role=record["role"],
            content=record["content"],
            html=record["html"],
            status=record["status"],
            created_at=record["message_created_at"],
            updated_at=record["message_updated_at"],
            superseded=record["superseded"],
            answer_number=record["answer_number"],
            answers=record["answers"],
            saved_item_id=record["saved_item_id"],
            feedback=record["feedback"],
        )
        for record in page[-limit:]
    ]
    return DialogRow(
        id=head["id"],
        title=head["title"],
        created_at=head["created_at"],
        updated_at=head["updated_at"],
        checked_at=head["checked_at"],
        messages=messages,
        has_more=len(page) > limit,
    )
