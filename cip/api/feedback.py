"""`/messages/{message_id}/feedback`: the visitor's rating of an answer in their own dialogs."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from cip import keys
from cip.api.params import CALLER_ERRORS, NoteText
from cip.db.store import feedback
from cip.db.store.feedback import Rating
from cip.http.context import visitor
from cip.http.jsonio import json_response, parse_json, path_uuid
from cip.http.openapi import endpoint


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating
    comment: NoteText | None = None


class FeedbackOut(BaseModel):
    message_id: UUID
    rating: Rating
    comment: str | None
    updated_at: datetime


@endpoint(
    "Rate an answer (again): thumbs up or down, with an optional comment",
    body=FeedbackIn,
    identity=True,
    tag="cabinet",
    responses={200: FeedbackOut, **CALLER_ERRORS},
)
async def rate_answer(request: web.Request) -> web.Response:
    who = await visitor(request)
    message_id = path_uuid(request, "message_id")
    body = await parse_json(request, FeedbackIn)
    row = await feedback.rate(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        message_id=message_id,
        rating=body.rating,
        comment=body.comment,
    )
    return json_response(FeedbackOut.model_validate(row, from_attributes=True))


@endpoint(
    "Clear the rating of an answer",
    identity=True,
    tag="cabinet",
    responses={204: None, **CALLER_ERRORS},
)
async def clear_rating(request: web.Request) -> web.Response:
    who = await visitor(request)
    await feedback.clear(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        message_id=path_uuid(request, "message_id"),
    )
    return web.Response(status=204)
