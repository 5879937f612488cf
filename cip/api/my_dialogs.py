"""`/me/dialogs`: the visitor's dialog list and one dialog, a page of messages at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.api.params import CALLER_ERRORS, MessagePageIn, PageIn
from cip.chat.replies import read_dialog
from cip.db.store import dialogs
from cip.db.store.dialogs import DialogRow, DialogSummaryRow
from cip.db.store.feedback import Rating
from cip.db.store.messages import MessageStatus
from cip.http.context import visitor
from cip.http.jsonio import json_response, parse_query, path_uuid
from cip.http.openapi import endpoint


class DialogSummaryOut(BaseModel):
    id: UUID
    title: str
    preview: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int

    @classmethod
    def of(cls, row: DialogSummaryRow) -> DialogSummaryOut:
        return cls.model_validate(row, from_attributes=True)


class DialogListOut(BaseModel):
    total: int
    items: list[DialogSummaryOut]


class DialogMessageOut(BaseModel):
    id: UUID
    role: str
    content: str
    # Safe HTML of assistant markdown; None for the visitor's own (plain text) messages.
    html: str | None
    status: MessageStatus
    created_at: datetime
    # An answer given again (`…/chat/{message_id}/regenerate`): the earlier one is superseded,
    # and each answer to that question says which it is of how many ("answer 1 of 2"); both
    # are null for a question answered once.
    superseded: bool = False
    answer_number: int | None = None
    answers: int | None = None
    # The caller's own marks on an answer: their saved item of it (`DELETE …/me/saved/{id}`
    # unsaves it) and their rating (`…/messages/{id}/feedback`); null when none.
    saved_item_id: UUID | None = None
    feedback: Rating | None = None


class DialogOut(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    # One page, oldest first: the newest messages, or those before `before`.
    messages: list[DialogMessageOut]
    # Older messages precede the page: ask again with `before` = the page's first message id.
    has_more: bool

    @classmethod
    def of(cls, row: DialogRow) -> DialogOut:
        messages = [
            DialogMessageOut(
                id=message.id,
                role=message.role,
                content=message.content,
                html=message.html,
                status=message.status,
                created_at=message.created_at,
                superseded=message.superseded,
                answer_number=message.answer_number or None,
                answers=message.answers or None,
                saved_item_id=message.saved_item_id,
                feedback=message.feedback,
            )
            for message in row.messages
        ]
        return cls(
            id=row.id,
            title=row.title,
            created_at=row.created_at,
            updated_at=row.updated_at,
            messages=messages,
            has_more=row.has_more,
        )


@endpoint(
    "The visitor's dialogs, newest first",
    query=PageIn,
    identity=True,
    tag="cabinet",
    responses={200: DialogListOut, **CALLER_ERRORS},
)
async def list_dialogs(request: web.Request) -> web.Response:
    who = await visitor(request)
    page = parse_query(request, PageIn)
    found = await dialogs.list_page(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        limit=page.limit,
        offset=page.offset,
    )
    items = [DialogSummaryOut.of(row) for row in found.items]
    return json_response(DialogListOut(total=found.total, items=items))


@endpoint(
    "One dialog with a page of its messages: the newest, or those before a message",
    query=MessagePageIn,
    identity=True,
    tag="cabinet",
    responses={200: DialogOut, **CALLER_ERRORS},
)
async def get_dialog(request: web.Request) -> web.Response:
    who = await visitor(request)
    dialog_id = path_uuid(request, "dialog_id")
    page = parse_query(request, MessagePageIn)
    dialog = await read_dialog(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        dialog_id=dialog_id,
        limit=page.limit,
        before=page.before,
        stream_timeout=timedelta(seconds=request.app[keys.CONFIG].llm.total_timeout),
    )
    return json_response(DialogOut.of(dialog))
