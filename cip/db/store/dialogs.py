"""A visitor's dialogs as the cabinet reads and changes them: a page of summaries, one dialog
a page of messages at a time, a rename, a delete and its undo, a search, the rows of an export.

Titles and previews leave here as plain text cut at a word (`cip.chat.plain_text`): the SQL
hands over their sources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel

from cip import errors
from cip.chat.plain_text import cut, one_line, shown_text
from cip.db.queries import Executor, queries
from cip.db.store.feedback import Rating
from cip.db.store.messages import MessageStatus, StoredMessage, dialog_not_found

Q = queries("dialogs")
# Characters of a title and a preview, the ellipsis of a cut included.
SNIPPET_CHARS = 120
# Characters of the message read for them: room for the markdown an answer's text loses.
SOURCE_CHARS = 2000
CURSOR_NOT_FOUND = "`before` is not a message of this dialog."
# Search: matches are marked between these two characters (Unicode private use, taken out of
# every text before it is marked), which the page turns into <mark> around escaped text.
MARK_START, MARK_END = "\ue000", "\ue001"
# ts_headline drops what its parser takes for HTML tags; the text's `<` travels as this
# character (also taken out first) and comes back after, so a snippet shows what was written.
LESS_THAN = "\ue002"
HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, MinWords=15, MaxWords=35"
MATCHES_PER_DIALOG = 3  # the newest matching messages shown under each dialog found
EXPORT_PREFETCH = 200  # rows an export cursor fetches per round trip


def shown_title(source: str | None, *, title_set: bool) -> str:
    """A dialog's title as the cabinet shows it: the visitor's own as they wrote it, else
    the start of the first question on one line, cut at a word."""
    if title_set:
        return source or ""
    return cut(one_line(source or ""), SNIPPET_CHARS, cut_before=_was_cut(source))


def shown_preview(source: str | None, role: str | None) -> str | None:
    """The start of a message as plain text, cut at a word; None for no message."""
    if source is None or role is None:
        return None
    return cut(shown_text(source, role), SNIPPET_CHARS, cut_before=_was_cut(source))


def _was_cut(source: str | None) -> bool:
    return source is not None and len(source) >= SOURCE_CHARS


class DialogSummaryRow(BaseModel):
    id: UUID
    title: str
    preview: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int

    @classmethod
    def of(cls, record: asyncpg.Record) -> DialogSummaryRow:
        return cls(
            id=record["id"],
            title=shown_title(record["title"], title_set=record["title_set"]),
            preview=shown_preview(record["preview"], record["preview_role"]),
            created_at=record["created_at"],
            updated_at=record["updated_at"],
            message_count=record["message_count"],
        )


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
    sources: list[dict[str, Any]] | None  # an answer's knowledge-base chunks, if any


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
        source_chars=SOURCE_CHARS,
    )
    return DialogPage(
        total=records[0]["total"],
        items=[DialogSummaryRow.of(record) for record in records if record["id"] is not None],
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
        source_chars=SOURCE_CHARS,
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
            sources=record["sources"],
        )
        for record in page[-limit:]
    ]
    return DialogRow(
        id=head["id"],
        title=shown_title(head["title"], title_set=head["title_set"]),
        created_at=head["created_at"],
        updated_at=head["updated_at"],
        checked_at=head["checked_at"],
        messages=messages,
        has_more=len(page) > limit,
    )


async def change(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    dialog_id: UUID,
    title: str | None = None,
    restore_within: float | None = None,
) -> DialogSummaryRow:
    """Give the dialog the visitor's own `title`, and/or (`restore_within` seconds, the undo
    window) bring it back from a delete; its summary. 404 unless it is this user's dialog and
    not deleted, or deleted within the window when restoring."""
    record = await Q.change.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        dialog_id=dialog_id,
        title=title,
        restore=restore_within is not None,
        undo_seconds=restore_within or 0,
        source_chars=SOURCE_CHARS,
    )
    if record is None:
        raise dialog_not_found()
    return DialogSummaryRow.of(record)


async def discard(db: Executor, *, tenant_id: UUID, user_id: str, dialog_id: UUID) -> None:
    """Delete the dialog as its visitor sees it (`change` may restore it for a while); 404
    unless it is this user's and not deleted already."""
    found = await Q.discard.fetchval(db, tenant_id=tenant_id, user_id=user_id, dialog_id=dialog_id)
    if found is None:
        raise dialog_not_found()


class MatchRow(BaseModel):
    message_id: UUID
    role: str
    created_at: datetime
    # Plain text with each match between MARK_START and MARK_END.
    snippet: str


class FoundDialogRow(BaseModel):
    id: UUID
    title: str
    updated_at: datetime
    matches: int  # how many of its messages match
    newest: list[MatchRow]  # the newest MATCHES_PER_DIALOG of them, newest first


async def search(
    pool: asyncpg.Pool, *, tenant_id: UUID, user_id: str, query: str, limit: int
) -> list[FoundDialogRow]:
    """The visitor's dialogs (not deleted) with messages matching `query`, latest activity
    first, each with its newest matches marked.

    Planned for the words searched each time (a custom plan): how common they are decides
    between the GIN index and a walk through the visitor's dialogs, and a generic plan, blind
    to them, would walk every message of a visitor with many."""
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await Q.plan_for_the_values.execute(connection)
        records = await Q.search.fetch(
            connection,
            tenant_id=tenant_id,
            user_id=user_id,
            query=query,
            limit=limit,
            per_dialog=MATCHES_PER_DIALOG,
            hidden=MARK_START + MARK_END + LESS_THAN,
            less_than=LESS_THAN,
            options=HEADLINE_OPTIONS,
            source_chars=SOURCE_CHARS,
        )
    found: dict[UUID, FoundDialogRow] = {}
    for record in records:
        dialog = found.get(record["id"])
        if dialog is None:
            dialog = found[record["id"]] = FoundDialogRow(
                id=record["id"],
                title=shown_title(record["title"], title_set=record["title_set"]),
                updated_at=record["updated_at"],
                matches=record["matches"],
                newest=[],
            )
        dialog.newest.append(
            MatchRow(
                message_id=record["message_id"],
                role=record["role"],
                created_at=record["created_at"],
                snippet=shown_text(record["snippet"].replace(LESS_THAN, "<"), record["role"]),
            )
        )
    return list(found.values())


class ExportMessageRow(BaseModel):
    id: UUID
    role: str
    content: str
    status: MessageStatus
    superseded: bool
    created_at: datetime


class ExportDialogRow(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime


async def export_rows(
    connection: asyncpg.Connection | PoolConnectionProxy,
    *,
    tenant_id: UUID,
    user_id: str,
    dialog_id: UUID | None,
) -> AsyncIterator[tuple[ExportDialogRow, ExportMessageRow | None]]:
    """The visitor's dialogs that are not deleted (or the one `dialog_id` names), oldest
    first, each with its messages in order, as (dialog, message) pairs (message None for a
    dialog without any), read through a cursor: iterate inside a transaction."""
    rows = Q.export_messages.cursor(
        connection,
        prefetch=EXPORT_PREFETCH,
        tenant_id=tenant_id,
        user_id=user_id,
        dialog_id=dialog_id,
        source_chars=SOURCE_CHARS,
    )
    dialog: ExportDialogRow | None = None
    async for record in rows:
        if dialog is None or dialog.id != record["dialog_id"]:
            dialog = ExportDialogRow(
                id=record["dialog_id"],
                title=shown_title(record["title"], title_set=record["title_set"]),
                created_at=record["dialog_created_at"],
                updated_at=record["dialog_updated_at"],
            )
        message = None
        if record["message_id"] is not None:
            message = ExportMessageRow(
                id=record["message_id"],
                role=record["role"],
                content=record["content"],
                status=record["status"],
                superseded=record["superseded"],
                created_at=record["created_at"],
            )
        yield dialog, message
