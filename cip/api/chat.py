"""`POST /tenants/{tenant_id}/chat`: one question, its answer streamed over SSE (SPEC §6).

The question is committed before the LLM is called, in the same statement that checks the
dialog and places the reply's `streaming` row. The stream then borrows no database connection
until its single closing write, which happens before the final event reaches the client (so a
client that reloads the dialog after `done` finds the answer stored). When that write fails
(the database went away mid-stream) a finished answer ends with an `error` event instead of
`done`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import chat, errors, identity, keys, sse
from cip.api.tenants import tenant_from_path
from cip.limits import check_chat_rate
from cip.llm import ChatRequest, LlmFailure, LlmStream
from cip.store import messages
from cip.store.messages import ReplyStatus, TurnRow
from cip.streams import CLIENT_GONE, SHUTDOWN
from cip.openapi import ErrorOut, endpoint
from cip.web import REQUEST_ID, parse_json

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"


class ChatIn(BaseModel):
    user_id: str | None = None
    message: str
    dialog_id: UUID | None = None


class ChatFailureOut(ErrorOut):
    """502, and 503 for a missing LLM key: the question was saved before the LLM failed, and
    these name it. (A 503 for an unreachable database carries neither.)"""

    dialog_id: UUID | None = None
    user_message_id: UUID | None = None


class ChatMetaOut(BaseModel):
    dialog_id: UUID
    user_message_id: UUID
    message_id: UUID


class ChatDoneOut(BaseModel):
    message_id: UUID
    finish_reason: str | None
    usage: dict[str, Any] | None


@endpoint(
    "Ask; the answer streams back as Server-Sent Events", body=ChatIn, identity="body", tag="chat",
    responses={
        200: "sse", 400: "Blank or too long message, bad dialog_id or identity",
        401: "Bad token, or an account id used as guest id", 403: "user_id does not match the token",
        404: "Unknown tenant, or a dialog that is not the caller's", 413: "Body too large",
        429: "Rate limited", 502: ChatFailureOut, 503: ChatFailureOut,
    },
)
async def post_chat(request: web.Request) -> web.StreamResponse:
    app = request.app
    config, pool, llm = app[keys.CONFIG], app[keys.POOL], app[keys.LLM]
    tenant = await tenant_from_path(request)
    body = await parse_json(request, ChatIn)
    settings = chat.settings_for(config, tenant)
    text = chat.checked_message(body.message, settings.message_max_chars)
    caller = await identity.resolve(request, pool, secret=config.auth.jwt_secret,
                                    tenant_id=tenant.id, claimed_user_id=body.user_id,
                                    known_guests=app[keys.KNOWN_GUESTS])
    # After validation, before anything is written.
    await check_chat_rate(pool, tenant, settings.limits, user_id=caller.user_id,
                          ip=request.remote or "")
    prompt = app[keys.PROMPTS].for_tenant(tenant.slug, settings.prompt_file)
    turn = await messages.start_turn(
        pool, tenant_id=tenant.id, user_id=caller.user_id, dialog_id=body.dialog_id,
        content=text, title=chat.title_of(text), with_reply=llm.configured,
        history_budget=config.llm.history_budget_chars,
    )
    saved = {"dialog_id": str(turn.dialog_id), "user_message_id": str(turn.user_message_id)}
    if turn.message_id is None:
        raise errors.ServiceUnavailable(errors.LLM_NOT_CONFIGURED, code="llm_not_configured",
                                        extra=saved)
    try:
        stream = await llm.open(ChatRequest(
            messages=chat.conversation(prompt, turn.history, text),
            model=settings.model, temperature=settings.temperature,
        ))
    except LlmFailure as exc:
        await messages.discard_reply(pool, tenant_id=tenant.id, message_id=turn.message_id)
        raise errors.BadGateway(exc.detail, code=exc.code, extra=saved) from None
    return await relay(request, stream, tenant.id, turn)


async def relay(request: web.Request, stream: LlmStream, tenant_id: UUID,
                turn: TurnRow) -> web.StreamResponse:
    """Stream the answer to the client, then store it with its final status."""
    response = web.StreamResponse(headers={**sse.HEADERS, "X-Request-Id": request[REQUEST_ID]})
    response.content_type = sse.CONTENT_TYPE
    response.charset = "utf-8"
    with request.app[keys.STREAMS].track(request, stream):
        try:
            status, ending = await _pump(request, response, stream, turn)
        except asyncio.CancelledError:
            # A server that cancels handlers of gone clients (not aiohttp's default) ends here.
            stream.abort(CLIENT_GONE)
            await asyncio.shield(_store(request, stream, tenant_id, turn, "interrupted"))
            raise
        finally:
            stream.close()
    if not await _store(request, stream, tenant_id, turn, status) and status == "complete":
        # The client must not be told `done` for an answer it will not find again; the row
        # stays `streaming` and is reported `interrupted` once total_timeout has passed.
        ending = _error_event(errors.REPLY_NOT_SAVED, "database_unavailable")
    if ending:
        with contextlib.suppress(ConnectionError):
            await response.write(ending)
    return response


async def _store(request: web.Request, stream: LlmStream, tenant_id: UUID, turn: TurnRow,
                 status: ReplyStatus) -> bool:
    """The closing write; False when it failed (the database is gone)."""
    assert turn.message_id is not None
    try:
        await messages.finish_reply(
            request.app[keys.POOL], tenant_id=tenant_id, message_id=turn.message_id,
            content=stream.text, status=status, finish_reason=stream.finish_reason,
            usage=stream.usage,
        )
    except Exception:  # the row stays `streaming`; the sweep reports it later
        log.exception("could not store reply %s", turn.message_id)
        return False
    return True


async def _pump(request: web.Request, response: web.StreamResponse, stream: LlmStream,
                turn: TurnRow) -> tuple[ReplyStatus, bytes]:
    """Relay deltas and heartbeats; return the reply's status and the final events to send
    once it is stored."""
    assert turn.message_id is not None
    heartbeat = request.app[keys.CONFIG].llm.heartbeat_interval
    meta = ChatMetaOut(dialog_id=turn.dialog_id, user_message_id=turn.user_message_id,
                       message_id=turn.message_id)
    try:
        await response.prepare(request)
        await response.write(sse.encode(meta, event="meta"))
        async for texts in stream.deltas(heartbeat):
            # Pieces that arrived together leave in one send: under load that is most of them.
            await response.write(b"".join(map(_delta_event, texts)) if texts else sse.PING)
    except LlmFailure as exc:
        return "error", _error_event(exc.detail, exc.code)
    except ConnectionError:
        stream.abort(CLIENT_GONE)
        return "interrupted", b""
    except Exception:  # the response has started: no error envelope can follow
        log.exception("chat stream %s failed", turn.message_id)
        return "error", _error_event(errors.INTERNAL_ERROR, "internal_error")
    if stream.abort_reason == SHUTDOWN:
        return "interrupted", _error_event(errors.SERVICE_RESTARTING, "service_restarting")
    if stream.abort_reason:
        return "interrupted", b""
    done = ChatDoneOut(message_id=turn.message_id, finish_reason=stream.finish_reason,
                       usage=stream.usage)
    return "complete", sse.encode(done, event="done") + DONE


def _delta_event(text: str) -> bytes:
    return sse.encode({"content": text})


def _error_event(detail: str, code: str) -> bytes:
    return sse.encode({"error": detail, "code": code}, event="error")
