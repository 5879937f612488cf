"""`/me/profile`: the visitor's display name and contact, and their account email."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, model_validator

from cip import keys
from cip.api.params import CALLER_ERRORS, ProfileText
from cip.db.store import profiles
from cip.db.store.profiles import ProfileRow
from cip.http.context import visitor
from cip.http.jsonio import json_response, parse_json
from cip.http.openapi import endpoint


class ProfilePatchIn(BaseModel):
    """A field left out keeps its value; `null` (or only whitespace) clears it."""

    model_config = ConfigDict(extra="forbid")

    display_name: ProfileText | None = None
    contact: ProfileText | None = None

    @model_validator(mode="after")
    def _names_a_field(self) -> ProfilePatchIn:
        if not self.model_fields_set:
            raise ValueError("give display_name and/or contact")
        return self

    def changes(self) -> dict[str, str | None]:
        return self.model_dump(include=self.model_fields_set)


class ProfileOut(BaseModel):
    user_id: str
    tenant_id: UUID
    display_name: str | None
    contact: str | None
    # The account's email for a registered visitor; null for a guest.
    email: str | None
    # null while the profile was never written.
    updated_at: datetime | None

    @classmethod
    def of(cls, row: ProfileRow) -> ProfileOut:
        return cls.model_validate(row, from_attributes=True)


@endpoint(
    "The visitor's profile",
    identity=True,
    tag="cabinet",
    responses={200: ProfileOut, **CALLER_ERRORS},
)
async def get_profile(request: web.Request) -> web.Response:
    who = await visitor(request)
    row = await profiles.get(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        account_id=who.account_id,
    )
    return json_response(ProfileOut.of(row))


@endpoint(
    "Change display name and/or contact (null clears)",
    body=ProfilePatchIn,
    identity=True,
    tag="cabinet",
    responses={200: ProfileOut, **CALLER_ERRORS},
)
async def patch_profile(request: web.Request) -> web.Response:
    who = await visitor(request)
    body = await parse_json(request, ProfilePatchIn)
    row = await profiles.update(
        request.app[keys.POOL],
        tenant_id=request[keys.TENANT].id,
        user_id=who.user_id,
        account_id=who.account_id,
        changes=body.changes(),
    )
    return json_response(ProfileOut.of(row))
