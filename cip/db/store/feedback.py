"""Ratings of answers: a visitor's thumbs up or down, with an optional comment, on the answers
in their own dialogs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from cip import errors
from cip.db.queries import Executor, queries
from cip.db.store.messages import MESSAGE_NOT_FOUND

Q = queries("feedback")
Rating = Literal["up", "down"]


class FeedbackRow(BaseModel):
    message_id: UUID
    rating: Rating
    comment: str | None
    updated_at: datetime


def _not_found() -> errors.NotFound:
    return errors.NotFound(MESSAGE_NOT_FOUND, code="message_not_found")


async def rate(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    message_id: UUID,
    rating: Rating,
    comment: str | None,
) -> FeedbackRow:
    """Rate (or rate again) an answer of this user's dialogs; 404 for anything else."""
    record = await Q.rate.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        message_id=message_id,
        rating=rating,
        comment=comment,
    )
    if record is None:
        raise _not_found()
    return FeedbackRow.model_validate(dict(record))


async def clear(db: Executor, *, tenant_id: UUID, user_id: str, message_id: UUID) -> None:
    """Forget this user's rating of an answer of theirs (rated or not); 404 for anything
    else."""
    found = await Q.clear_rating.fetchval(
        db, tenant_id=tenant_id, user_id=user_id, message_id=message_id
    )
    if not found:
        raise _not_found()
