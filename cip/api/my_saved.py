"""`/me/saved`: the visitor's saved messages and content references."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from cip import keys
from cip.api.params import CALLER_ERRORS, NoteText, PageIn
from cip.chat.replies import rendered
from cip.db.queries import Executor
from cip.db.store import saved_items
from cip.db.store.saved_items import SavedItemRow, SavedType
from cip.http.context import visitor
from cip.http.jsonio import json_response, parse_json, parse_query, path_uuid
from cip.http.openapi import endpoint

ReferenceText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)
]


class SavedItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: SavedType
    # A message id for `message`; any reference of the tenant's content for `content`.
    reference_id: ReferenceText
    note: NoteText | None = None

    @field_validator("reference_id")
    @classmethod
    def _message_id_is_a_uuid(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("type") != "message":
            return value
        try:
            return str(UUID(value))  # one spelling, so the same message is saved once
        except ValueError:
            raise ValueError("a message reference must be a message id (UUID)") from None

    @property
    def message_id(self) -> UUID | None:
        return UUID(self.reference_id) if self.type == "message" else None


class SavedMessageOut(BaseModel):
    id: UUID
    dialog_id: UUID
    role: str
    content: str
    html: str | None


class SavedItemOut(BaseModel):
    id: UUID
    type: SavedType
    reference_id: str
    created_at: datetime
    note: str | None
    # The saved message for `message` items; null for `content` items.
    message: SavedMessageOut | None

    @classmethod
    def of(cls, row: SavedItemRow) -> SavedItemOut:
        message = None
        if row.message is not None:
            message = SavedMessageOut(
                id=row.message.id,
                dialog_id=row.message.dialog_id,
                role=row.message.role,
                content=row.message.content,
                html=row.message.html,
            )
        return cls(
            id=row.id,
            type=row.type,
            reference_id=row.reference_id,
            created_at=row.created_at,
            note=row.note,
            message=message,
        )


class SavedListOut(BaseModel):
    total: int
    items: list[SavedItemOut]


async def shown(db: Executor, tenant_id: UUID, rows: list[SavedItemRow]) -> list[SavedItemOut]:
    """Saved items as a reader gets them: saved answers with their HTML."""
    saved = [row.message for row in rows if row.message]
    messages = {
        message.id: message for message in await rendered(db, tenant_id=tenant_id, found=saved)
    }
    return [
        SavedItemOut.of(
            row.model_copy(update={"message": messages[row.message.id]}) if row.message else row
        )
        for row in rows
    ]


@endpoint(
    "The visitor's saved items, newest first",
    query=PageIn,
    identity=True,
    tag="cabinet",
    responses={200: SavedListOut, **CALLER_ERRORS},
)
async def list_saved(request: web.Request) -> web.Response:
    who = await visitor(request)
    page = parse_query(request, PageIn)
    db, tenant_id = request.app[keys.POOL], request[keys.TENANT].id
    found = await saved_items.list_page(
        db, tenant_id=tenant_id, user_id=who.user_id, limit=page.limit, offset=page.offset
    )
    items = await shown(db, tenant_id, found.items)
    return json_response(SavedListOut(total=found.total, items=items))


@endpoint(
    "Save a message or a content reference",
    body=SavedItemIn,
    identity=True,
    tag="cabinet",
    responses={
        201: SavedItemOut,
        200: SavedItemOut,
        409: "The most saved items a visitor may keep are saved",
        **CALLER_ERRORS,
    },
)
async def save_item(request: web.Request) -> web.Response:
    """201 with a new item; 200 with the item already saved for the same reference."""
    who = await visitor(request)
    body = await parse_json(request, SavedItemIn)
    db, tenant = request.app[keys.POOL], request[keys.TENANT]
    result = await saved_items.save(
        db,
        tenant_id=tenant.id,
        user_id=who.user_id,
        type=body.type,
        reference_id=body.reference_id,
        message_id=body.message_id,
        note=body.note,
        max_items=tenant.settings.limits.saved_items_per_visitor,
    )
    (item,) = await shown(db, tenant.id, [result.item])
    return json_response(item, status=201 if result.created else 200)


@endpoint(
    "Delete a saved item", identity=True, tag="cabinet", responses={204: None, **CALLER_ERRORS}
)
async def delete_item(request: web.Request) -> web.Response:
    who = await visitor(request)
    item_id = path_uuid(request, "item_id")
    await saved_items.delete(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        item_id=item_id,
    )
    return web.Response(status=204)
