"""Usage and quotas: a tenant's answers and tokens per day (`tenant_usage`, written by each
answer's closing write in `messages.finish_reply`) and its month against its quotas
(`tenant_quota_month`): reserving an answer before the upstream is called, giving it back,
and claiming the month's quota warning."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel

from cip.db.queries import Executor, queries

Q = queries("usage")


class MonthRow(BaseModel):
    """The tenant's month once an answer is reserved in it."""

    answers_reserved: int
    tokens_used: int
    warned: bool


class UsageDayRow(BaseModel):
    day: date
    answers: int
    prompt_tokens: int
    completion_tokens: int
    estimated_answers: int


async def reserve_answer(
    db: Executor, *, tenant_id: UUID, answer_quota: int, token_quota: int
) -> MonthRow | None:
    """One answer of the month, or None when the tenant is past a quota (0: none)."""
    record = await Q.reserve_answer.fetchrow(
        db, tenant_id=tenant_id, answer_quota=answer_quota, token_quota=token_quota
    )
    return None if record is None else MonthRow.model_validate(dict(record))


async def release_answer(db: Executor, *, tenant_id: UUID) -> None:
    await Q.release_answer.execute(db, tenant_id=tenant_id)


async def mark_warned(db: Executor, *, tenant_id: UUID) -> bool:
    """Whether this call claimed the month's quota warning (only one ever does)."""
    return await Q.mark_warned.fetchval(db, tenant_id=tenant_id) is not None


async def usage_days(
    db: Executor, *, tenant_id: UUID, first: date, last: date
) -> list[UsageDayRow]:
    records = await Q.usage_days.fetch(db, tenant_id=tenant_id, first=first, last=last)
    return [UsageDayRow.model_validate(dict(record)) for record in records]
