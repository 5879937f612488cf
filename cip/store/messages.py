"""Chat turns in the database: the opening write (dialog, question, reply placeholder and the
history to send upstream, in one statement), the closing write of the reply, and the report
of replies whose writer died."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.errors import DIALOG_NOT_FOUND, NotFound
from cip.sql import queries

Q = queries("messages")
Executor = asyncpg.Connection | asyncpg.Pool
ReplyStatus = Literal["complete", "interrupted", "error"]


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class TurnRow(BaseModel):
    dialog_id: UUID
    user_message_id: UUID
    message_id: UUID | None  # the reply placeholder; None when no reply will be streamed
    history: list[HistoryItem]


async def start_turn(
    db: Executor, *, tenant_id: UUID, user_id: str, dialog_id: UUID | None, content: str,
    title: str, with_reply: bool, history_budget: int,
) -> TurnRow:
    """Open a turn; `NotFound` (and nothing written) when `dialog_id` is not this user's."""
    record = await db.fetchrow(Q.start_turn, tenant_id, user_id, dialog_id, content, title,
                               with_reply, history_budget)
    if record is None:
        raise NotFound(DIALOG_NOT_FOUND, code="dialog_not_found")
    return TurnRow.model_validate(dict(record))


async def finish_reply(
    db: Executor, *, tenant_id: UUID, message_id: UUID, content: str, status: ReplyStatus,
    finish_reason: str | None, usage: dict[str, Any] | None,
) -> None:
    await db.execute(Q.finish_reply, tenant_id, message_id, content, status, finish_reason, usage)


async def discard_reply(db: Executor, *, tenant_id: UUID, message_id: UUID) -> None:
    await db.execute(Q.discard_reply, tenant_id, message_id)


async def interrupt_stale(db: Executor, *, older_than: float) -> int:
    """Mark replies left `streaming` for more than `older_than` seconds as interrupted."""
    return len(await db.fetch(Q.interrupt_stale, older_than))
