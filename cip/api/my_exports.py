"""`/me/dialogs/{id}/export.md` and `/me/dialogs/export.json`: the visitor's dialogs to keep,
one as Markdown, all as JSON. Both stream from a cursor in one read-only snapshot, so memory
holds one batch of rows whatever the number of dialogs; the pooled connection is held while
the download lasts, and a client that stops reading for `WRITE_TIMEOUT` is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.accounts.identity import Identity
from cip.api.params import CALLER_ERRORS
from cip.db.store import dialogs
from cip.db.store.dialogs import ExportDialogRow, ExportMessageRow
from cip.db.store.messages import MessageStatus, dialog_not_found
from cip.http.context import visitor
from cip.http.jsonio import dumps, path_uuid
from cip.http.openapi import endpoint

WRITE_TIMEOUT = 30.0  # seconds a download may wait on a client that stopped reading
Rows = AsyncIterator[tuple[ExportDialogRow, ExportMessageRow | None]]
Render = Callable[[Rows], AsyncIterator[bytes]]
# The words of a Markdown export, in the tenant's language.
LABELS = {
    "ru": {
        "user": "Вы",
        "assistant": "Ассистент",
        "untitled": "Без названия",
        "started": "Начат",
        "interrupted": "ответ прерван",
        "stopped": "ответ остановлен",
        "error": "ответ оборвался из-за ошибки",
        "streaming": "ответ пишется",
        "superseded": "дан ответ заново",
    },
    "en": {
        "user": "You",
        "assistant": "Assistant",
        "untitled": "Untitled",
        "started": "Started",
        "interrupted": "answer interrupted",
        "stopped": "answer stopped",
        "error": "answer cut short by an error",
        "streaming": "answer being written",
        "superseded": "answered again",
    },
}


class ExportedMessageOut(BaseModel):
    id: UUID
    role: str
    content: str
    status: MessageStatus
    superseded: bool
    created_at: datetime


class ExportedDialogOut(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[ExportedMessageOut]  # oldest first


class DialogsExportOut(BaseModel):
    dialogs: list[ExportedDialogOut]  # oldest first


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def markdown_of(locale: str) -> Render:
    """One dialog as Markdown: its title, when it started, then each message under a heading
    saying who wrote it, when, and how an answer ended when it did not complete (an answer
    still empty is left out)."""
    words = LABELS.get(locale, LABELS["en"])

    async def render(rows: Rows) -> AsyncIterator[bytes]:
        started: UUID | None = None
        async for dialog, message in rows:
            if dialog.id != started:
                started = dialog.id
                title = dialog.title or words["untitled"]
                yield f"# {title}\n\n{words['started']}: {_when(dialog.created_at)}\n\n".encode()
            if message is None or not message.content:
                continue
            notes = [words[message.status]] if message.status != "complete" else []
            if message.superseded:
                notes.append(words["superseded"])
            heading = " · ".join([words[message.role], _when(message.created_at), *notes])
            yield f"## {heading}\n\n{message.content.strip()}\n\n".encode()

    return render


async def json_of(rows: Rows) -> AsyncIterator[bytes]:
    """Every dialog as `{"dialogs": [{id, title, created_at, updated_at, messages: [{id,
    role, content, status, superseded, created_at}]}]}`, written a message at a time."""
    yield b'{"dialogs":['
    started: UUID | None = None
    first_message = True
    async for dialog, message in rows:
        if dialog.id != started:
            head = dumps(dialog)[:-1] + b',"messages":['  # the object left open for them
            yield (b"]}," if started is not None else b"") + head
            started, first_message = dialog.id, True
        if message is not None:
            yield (b"" if first_message else b",") + dumps(message)
            first_message = False
    yield (b"]}" if started is not None else b"") + b"]}"


async def _stream(
    request: web.Request,
    who: Identity,
    *,
    dialog_id: UUID | None,
    render: Render,
    content_type: str,
    name: str,
) -> web.StreamResponse:
    """The export of the caller's dialogs (or of one), as `render` writes it, downloaded as
    `name`; 404 when `dialog_id` names no dialog of theirs (nothing written yet then)."""
    tenant_id = request[keys.TENANT].id
    async with (
        request.app[keys.POOL].acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        rows = dialogs.export_rows(
            connection, tenant_id=tenant_id, user_id=who.user_id, dialog_id=dialog_id
        )
        chunks = render(rows)
        first = await anext(chunks, None)
        if first is None:
            raise dialog_not_found()
        response = web.StreamResponse(
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            }
        )
        response.content_type = content_type
        response.charset = "utf-8"
        await response.prepare(request)
        try:
            async with asyncio.timeout(WRITE_TIMEOUT) as deadline:
                await response.write(first)
                async for chunk in chunks:
                    deadline.reschedule(asyncio.get_running_loop().time() + WRITE_TIMEOUT)
                    await response.write(chunk)
        except TimeoutError:  # the client stopped reading: drop it, the snapshot ends
            if request.transport is not None:
                request.transport.abort()
            return response
    await response.write_eof()
    return response


@endpoint(
    "One dialog as a Markdown file",
    identity=True,
    tag="cabinet",
    responses={200: "markdown", **CALLER_ERRORS},
)
async def export_markdown(request: web.Request) -> web.StreamResponse:
    who = await visitor(request)
    dialog_id = path_uuid(request, "dialog_id")
    return await _stream(
        request,
        who,
        dialog_id=dialog_id,
        render=markdown_of(request[keys.TENANT].settings.locale),
        content_type="text/markdown",
        name=f"dialog-{dialog_id}.md",
    )


@endpoint(
    "Every dialog of the visitor, with their messages, as one JSON file",
    identity=True,
    tag="cabinet",
    responses={200: DialogsExportOut, **CALLER_ERRORS},
)
async def export_json(request: web.Request) -> web.StreamResponse:
    return await _stream(
        request,
        await visitor(request),
        dialog_id=None,
        render=json_of,
        content_type="application/json",
        name="dialogs.json",
    )
