"""Chat turns in the database: the opening write (dialog, question, reply placeholder and the
history to send upstream, in one statement), the closing write of the reply, the HTML of
answers rendered by their first reader, and the sweep of replies whose writer died. The
closing write also counts the answer in the metrics: every answer passes there once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from cip import errors, metrics
from cip.db.queries import Executor, queries

Q = queries("messages")
MessageStatus = Literal["complete", "streaming", "interrupted", "stopped", "error"]
ReplyStatus = Literal["complete", "interrupted", "stopped", "error"]  # what a stream stores


class StoredMessage(BaseModel):
    """A message as readers get it; `html`, an answer's safe rendering, is None until it is
    rendered (see `cip.chat.replies.rendered`) and for a visitor's own messages."""

    id: UUID
    role: str
    content: str
    html: str | None
    status: MessageStatus  # as stored: see `cip.chat.replies` for what a reader is shown


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class TurnRow(BaseModel):
    dialog_id: UUID
    user_message_id: UUID
    message_id: UUID | None  # the reply placeholder; None when no reply will be streamed
    history: list[HistoryItem]


@dataclass(frozen=True, slots=True)
class TokenCount:
    """An answer's tokens as its closing write counts them: the upstream's `usage`, or an
    estimate when it sent none (`estimated`)."""

    prompt: int
    completion: int
    estimated: bool


MESSAGE_NOT_FOUND = "Message not found."


def dialog_not_found() -> errors.NotFound:
    return errors.NotFound(errors.DIALOG_NOT_FOUND, code="dialog_not_found")


async def start_turn(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    dialog_id: UUID | None,
    content: str,
    title: str,
    with_reply: bool,
    history_budget: int,
) -> TurnRow:
    """Open a turn; `NotFound` (and nothing written) when `dialog_id` is not this user's."""
    record = await Q.start_turn.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        dialog_id=dialog_id,
        content=content,
        title=title,
        with_reply=with_reply,
        history_budget=history_budget,
    )
    if record is None:
        raise dialog_not_found()
    return TurnRow.model_validate(dict(record))


@dataclass(frozen=True, slots=True)
class NewDialogTurn:
    """A question that starts a dialog of its own."""

    user_id: str
    content: str
    title: str
    with_reply: bool


async def start_dialogs(
    db: Executor, *, tenant_id: UUID, turns: Sequence[NewDialogTurn]
) -> list[TurnRow]:
    """Open turns that each start a new dialog, in one statement; their rows in order."""
    records = await Q.start_dialogs.fetch(
        db,
        tenant_id=tenant_id,
        user_ids=[turn.user_id for turn in turns],
        contents=[turn.content for turn in turns],
        titles=[turn.title for turn in turns],
        with_replies=[turn.with_reply for turn in turns],
    )
    return [TurnRow(**dict(record), history=[]) for record in records]


async def finish_reply(
    db: Executor,
    *,
    tenant_id: UUID,
    message_id: UUID,
    content: str,
    html: str,
    status: ReplyStatus,
    finish_reason: str | None,
    usage: dict[str, Any] | None,
    tokens: TokenCount,
    sources: list[dict[str, Any]] | None,
) -> None:
    """Store the answer; its `tokens` are added to the tenant's day and month, and it is
    counted in the process's metrics (`cip.metrics.answered`; not when the reply is gone)."""
    slug = await Q.finish_reply.fetchval(
        db,
        tenant_id=tenant_id,
        message_id=message_id,
        content=content,
        html=html,
        status=status,
        finish_reason=finish_reason,
        usage=usage,
        sources=sources,
        prompt_tokens=tokens.prompt,
        completion_tokens=tokens.completion,
        estimated=tokens.estimated,
    )
    if slug is not None:
        metrics.answered(
            slug, status, prompt_tokens=tokens.prompt, completion_tokens=tokens.completion
        )


async def discard_reply(db: Executor, *, tenant_id: UUID, message_id: UUID) -> None:
    await Q.discard_reply.execute(db, tenant_id=tenant_id, message_id=message_id)


async def store_html(db: Executor, *, tenant_id: UUID, html: dict[UUID, str]) -> None:
    """Keep the HTML rendered for answers stored without one (message id -> HTML)."""
    await Q.store_html.execute(db, tenant_id=tenant_id, ids=list(html), htmls=list(html.values()))


class ReplyStateRow(BaseModel):
    status: MessageStatus
    updated_at: datetime
    checked_at: datetime  # the database's clock when it was read


async def reply_of(
    db: Executor, *, tenant_id: UUID, user_id: str, message_id: UUID
) -> ReplyStateRow:
    """The state of an answer of this user's dialogs; 404 for anything else."""
    record = await Q.reply_of.fetchrow(
        db, tenant_id=tenant_id, user_id=user_id, message_id=message_id
    )
    if record is None:
        raise errors.NotFound(MESSAGE_NOT_FOUND, code="message_not_found")
    return ReplyStateRow.model_validate(dict(record))


async def publish_stop(db: Executor, *, message_id: UUID) -> None:
    await Q.publish_stop.execute(db, message_id=str(message_id))


@dataclass(frozen=True, slots=True)
class AnswerPart:
    """Characters of an answer in flight, from `start` on."""

    tenant_id: UUID
    message_id: UUID
    start: int
    body: str


class RegenerationRow(BaseModel):
    dialog_id: UUID
    role: Literal["user", "assistant"]  # an answer, or a question left without one
    status: MessageStatus
    user_message_id: UUID  # the question: the answer's, or the message itself
    question: str
    latest: bool  # no message follows it in its dialog but superseded answers
    history: list[HistoryItem]  # what precedes the question, as start_turn gives it


ANSWER_NOT_LATEST = "Only the latest answer of a dialog can be given again."
ANSWER_IN_PROGRESS = "This answer is still being written; stop it first."


async def regeneration_of(
    db: Executor, *, tenant_id: UUID, user_id: str, message_id: UUID, history_budget: int
) -> RegenerationRow:
    """Answer `message_id` of this user's dialogs (or a question of theirs left without an
    answer, that ends its dialog) with its question and that question's history; 404 for
    anything else."""
    record = await Q.regeneration_of.fetchrow(
        db,
        tenant_id=tenant_id,
        user_id=user_id,
        message_id=message_id,
        history_budget=history_budget,
    )
    if record is None:
        raise errors.NotFound(MESSAGE_NOT_FOUND, code="message_not_found")
    return RegenerationRow.model_validate(dict(record))


async def start_regeneration(
    db: Executor, *, tenant_id: UUID, target: RegenerationRow, message_id: UUID
) -> UUID:
    """Supersede answer `message_id` (`target` describes it) by a new `streaming` answer to
    the same question, or start the answer of a question left without one; its id. 409 when
    it is not the dialog's latest message any more, or is being written."""
    if target.status == "streaming":
        raise errors.Conflict(ANSWER_IN_PROGRESS, code="answer_in_progress")
    if not target.latest:
        raise errors.Conflict(ANSWER_NOT_LATEST, code="answer_not_latest")
    statement = Q.start_regeneration if target.role == "assistant" else Q.start_late_answer
    values = {"message_id": message_id} if target.role == "assistant" else {}
    new_id: UUID | None = await statement.fetchval(
        db,
        tenant_id=tenant_id,
        dialog_id=target.dialog_id,
        user_message_id=target.user_message_id,
        **values,
    )
    if new_id is None:  # answered anew, or followed by a message, since it was read
        raise errors.Conflict(ANSWER_NOT_LATEST, code="answer_not_latest")
    return new_id


async def append_parts(db: Executor, *, parts: list[AnswerPart], followed: list[UUID]) -> None:
    """Append parts of answers being written (of any tenants), then wake the instances that
    follow the answers in `followed` from elsewhere."""
    await Q.append_parts.execute(
        db,
        tenant_ids=[part.tenant_id for part in parts],
        message_ids=[part.message_id for part in parts],
        starts=[part.start for part in parts],
        bodies=[part.body for part in parts],
        followed=followed,
    )


class AnswerSinceRow(BaseModel):
    status: MessageStatus
    updated_at: datetime
    checked_at: datetime  # the database's clock when it was read
    finish_reason: str | None
    usage: dict[str, Any] | None
    sources: list[dict[str, Any]] | None  # the knowledge-base chunks it was given from
    dialog_id: UUID
    user_message_id: UUID
    text: str  # from the character asked for on


async def answer_since(
    db: Executor, *, tenant_id: UUID, user_id: str, message_id: UUID, after: int
) -> AnswerSinceRow:
    """An answer of this user's dialogs with its text from character `after` on (what its
    parts hold while it is being written); 404 for anything else."""
    record = await Q.answer_since.fetchrow(
        db, tenant_id=tenant_id, user_id=user_id, message_id=message_id, after=after
    )
    if record is None:
        raise errors.NotFound(MESSAGE_NOT_FOUND, code="message_not_found")
    return AnswerSinceRow.model_validate(dict(record))


async def publish_follow(db: Executor, *, message_id: UUID) -> None:
    await Q.publish_follow.execute(db, message_id=str(message_id))


async def publish_parts(db: Executor, *, message_id: UUID) -> None:
    await Q.publish_parts.execute(db, message_id=str(message_id))


async def interrupt_stale(db: Executor, *, older_than: float) -> int:
    """Mark replies left `streaming` for more than `older_than` seconds as interrupted."""
    return len(await Q.interrupt_stale.fetch(db, older_than=older_than))
