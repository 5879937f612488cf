"""`POST /tenants/{tenant_id}/chat`: one question, its answer streamed over SSE (SPEC §6);
`GET …/chat/{message_id}/stream`, the answer again from where a visitor lost it; and
`POST …/chat/{message_id}/stop`. The turn itself is `cip.chat.turn`."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.api.params import CALLER_ERRORS, ResumeIn
from cip.chat.rules import checked_message
from cip.db.store.messages import MessageStatus
from cip.http.context import caller, client_ip, visitor
from cip.http.jsonio import json_response, parse_json, path_uuid, validate
from cip.http.openapi import ErrorOut, endpoint
from cip.http.streaming import ResponseOutlet


class ChatIn(BaseModel):
    user_id: str | None = None
    message: str
    dialog_id: UUID | None = None


class ChatFailureOut(ErrorOut):
    """502, and 503 for a missing LLM key: the question was saved before the LLM failed, and
    these name it. (A 503 for an unreachable database carries neither.)"""

    dialog_id: UUID | None = None
    user_message_id: UUID | None = None


@endpoint(
    "Ask; the answer streams back as Server-Sent Events",
    body=ChatIn,
    identity="body",
    tag="chat",
    responses={
        200: "sse",
        400: "Blank or too long message, bad dialog_id or identity",
        401: "Bad token, or an account id used as guest id",
        403: "user_id does not match the token",
        404: "Unknown tenant, or a dialog that is not the caller's",
        429: "Rate limited, or the tenant's monthly quota is used up (quota_exceeded)",
        502: ChatFailureOut,
        503: ChatFailureOut,
    },
)
async def post_chat(request: web.Request) -> web.StreamResponse:
    tenant = request[keys.TENANT]
    body = await parse_json(request, ChatIn)
    question = checked_message(body.message, tenant.settings.limits.message_max_chars)
    who = await caller(request, body.user_id)
    outlet = ResponseOutlet(request)
    await request.app[keys.CHAT].answer(
        tenant, who, question, dialog_id=body.dialog_id, ip=client_ip(request), outlet=outlet
    )
    return outlet.response


@endpoint(
    "Follow an answer again from the last event received (Last-Event-ID), to its end",
    query=ResumeIn,
    identity=True,
    tag="chat",
    responses={200: "sse", **CALLER_ERRORS},
)
async def resume_answer(request: web.Request) -> web.StreamResponse:
    """The answer's `meta`, its text from character `Last-Event-ID` on (the header, or the
    `last_event_id` query parameter, which wins), then live to its end, from any instance."""
    who = await visitor(request)
    message_id = path_uuid(request, "message_id")
    header = request.headers.get("Last-Event-ID")
    since = validate(ResumeIn, {**({"last_event_id": header} if header else {}), **request.query})
    outlet = ResponseOutlet(request)
    await request.app[keys.CHAT].resume(
        request[keys.TENANT], who, message_id, after=since.last_event_id, outlet=outlet
    )
    return outlet.response


@endpoint(
    "Answer the question of an answer again; the new answer streams as Server-Sent Events",
    identity=True,
    tag="chat",
    responses={
        200: "sse",
        **CALLER_ERRORS,
        404: "Unknown tenant, or an answer that is not the caller's",
        409: "Not the dialog's latest answer, or one still being written",
        429: "Rate limited, or the tenant's monthly quota is used up (quota_exceeded)",
        502: ChatFailureOut,
        503: ChatFailureOut,
    },
)
async def regenerate_answer(request: web.Request) -> web.StreamResponse:
    """The new answer streams like a chat's (`meta` names it and the question); the earlier
    one is kept, superseded."""
    who = await caller(request, request.headers.get("X-User-Id"))
    message_id = path_uuid(request, "message_id")
    outlet = ResponseOutlet(request)
    await request.app[keys.CHAT].regenerate(
        request[keys.TENANT], who, message_id, ip=client_ip(request), outlet=outlet
    )
    return outlet.response


class StopOut(BaseModel):
    message_id: UUID
    # `stopped`, or the status the answer had already ended with; `streaming` when the instance
    # writing it did not store it stopped within two seconds (it may be gone: see the sweep).
    status: MessageStatus


@endpoint(
    "Stop an answer being streamed, whichever instance streams it",
    identity=True,
    tag="chat",
    responses={200: StopOut, 202: StopOut, **CALLER_ERRORS},
)
async def stop_answer(request: web.Request) -> web.Response:
    """200 with the answer's final status (a finished answer keeps its own); 202 when it is
    still `streaming` after the wait."""
    who = await visitor(request)
    message_id = path_uuid(request, "message_id")
    status = await request.app[keys.CHAT].stop(request[keys.TENANT], who, message_id)
    return json_response(
        StopOut(message_id=message_id, status=status), status=202 if status == "streaming" else 200
    )
