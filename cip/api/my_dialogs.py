"""`/me/dialogs`: the visitor's dialog list and one dialog, a page of messages at a time; a
dialog renamed, deleted and restored (within the undo window); the search across them."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cip import keys
from cip.api.params import CALLER_ERRORS, LineText, MessagePageIn, PageIn
from cip.chat.events import SourceOut
from cip.chat.replies import read_dialog
from cip.db.store import dialogs
from cip.db.store.dialogs import DialogRow, DialogSummaryRow, FoundDialogRow, MatchRow
from cip.db.store.feedback import Rating
from cip.db.store.messages import MessageStatus
from cip.http.context import visitor
from cip.http.jsonio import json_response, parse_json, parse_query, path_uuid
from cip.http.openapi import endpoint

MAX_SEARCH_DIALOGS = 50


class DialogChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: LineText


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Words (Russian or English, any form of them), "a phrase", `or`, `-word`.
    q: LineText
    limit: int = Field(20, ge=1, le=MAX_SEARCH_DIALOGS)


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
    # The knowledge-base chunks an answer was given from (its `sources` event); null when none.
    sources: list[SourceOut] | None = None


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
                sources=[SourceOut.model_validate(s) for s in message.sources or ()] or None,
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


@endpoint(
    "Rename a dialog: the visitor's own title from now on",
    body=DialogChangeIn,
    identity=True,
    tag="cabinet",
    responses={200: DialogSummaryOut, **CALLER_ERRORS},
)
async def rename_dialog(request: web.Request) -> web.Response:
    who = await visitor(request)
    dialog_id = path_uuid(request, "dialog_id")
    body = await parse_json(request, DialogChangeIn)
    summary = await dialogs.change(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        dialog_id=dialog_id,
        title=body.title,
    )
    return json_response(DialogSummaryOut.of(summary))


@endpoint(
    "Delete a dialog (it can be restored for `[limits] dialog_undo_seconds`)",
    identity=True,
    tag="cabinet",
    responses={204: None, **CALLER_ERRORS},
)
async def delete_dialog(request: web.Request) -> web.Response:
    who = await visitor(request)
    dialog_id = path_uuid(request, "dialog_id")
    await dialogs.discard(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        dialog_id=dialog_id,
    )
    return web.Response(status=204)


@endpoint(
    "Bring back a dialog deleted within the undo window",
    identity=True,
    tag="cabinet",
    responses={200: DialogSummaryOut, **CALLER_ERRORS},
)
async def restore_dialog(request: web.Request) -> web.Response:
    who = await visitor(request)
    dialog_id = path_uuid(request, "dialog_id")
    tenant = request[keys.TENANT]
    summary = await dialogs.change(
        request.app[keys.POOL],
        tenant_id=tenant.id,
        user_id=who.user_id,
        dialog_id=dialog_id,
        restore_within=tenant.settings.limits.dialog_undo_seconds,
    )
    return json_response(DialogSummaryOut.of(summary))


class MatchOut(BaseModel):
    message_id: UUID
    role: str
    created_at: datetime
    # Plain text; each match between U+E000 and U+E001 (the page escapes the text, then marks).
    snippet: str

    @classmethod
    def of(cls, row: MatchRow) -> MatchOut:
        return cls.model_validate(row, from_attributes=True)


class FoundDialogOut(BaseModel):
    id: UUID
    title: str
    updated_at: datetime
    matches: int  # how many of its messages match
    messages: list[MatchOut]  # the newest matches, newest first (at most 3)

    @classmethod
    def of(cls, row: FoundDialogRow) -> FoundDialogOut:
        return cls(
            id=row.id,
            title=row.title,
            updated_at=row.updated_at,
            matches=row.matches,
            messages=[MatchOut.of(match) for match in row.newest],
        )


class SearchOut(BaseModel):
    items: list[FoundDialogOut]


@endpoint(
    "Search the visitor's dialogs: those whose messages match, latest activity first",
    query=SearchIn,
    identity=True,
    tag="cabinet",
    responses={200: SearchOut, **CALLER_ERRORS},
)
async def search_dialogs(request: web.Request) -> web.Response:
    who = await visitor(request)
    search = parse_query(request, SearchIn)
    pool = request.app[keys.POOL]
    found = await dialogs.search(
        pool,
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        query=search.q,
        limit=search.limit,
    )
    return json_response(SearchOut(items=[FoundDialogOut.of(row) for row in found]))
