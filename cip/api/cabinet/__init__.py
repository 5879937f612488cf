"""The visitor cabinet (SPEC §6 "Cabinet"): a guest or an account reads and curates their own
dialogs, saved items and profile in one tenant. What every cabinet handler shares: who is
asking, paging, and bounded text fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cip import keys
from cip.api.tenants import tenant_from_path
from cip.identity import Identity, resolve_cabinet
from cip.openapi import Body
from cip.store.tenants import TenantRow
from cip.web import validate

MAX_PAGE = 100
# OFFSET is a bigint in PostgreSQL; a bound keeps absurd values a 400 instead of an overflow.
MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Visitor:
    tenant: TenantRow
    identity: Identity

    @property
    def user_id(self) -> str:
        return self.identity.user_id


async def visitor(request: web.Request) -> Visitor:
    """The tenant from the path (400/404), then the caller in it (400/401/403)."""
    tenant = await tenant_from_path(request)
    identity = await resolve_cabinet(request, request.app[keys.POOL],
                                     secret=request.app[keys.CONFIG].auth.jwt_secret,
                                     tenant_id=tenant.id,
                                     known_guests=request.app[keys.KNOWN_GUESTS])
    return Visitor(tenant=tenant, identity=identity)


class PageIn(BaseModel):
    # Unknown query parameters (cache busters) are ignored.
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


def page_of(request: web.Request) -> PageIn:
    """`?limit=&offset=`; out of range or not a number → 400."""
    return validate(PageIn, dict(request.query))


# What every cabinet route may answer besides its success (documented in the OpenAPI file).
CALLER_ERRORS: dict[int, Body | str] = {
    400: "Invalid input or no identity", 401: "Bad token, or an account id used as guest id",
    403: "X-User-Id does not match the token", 404: "Unknown tenant (or not yours)",
}


def _blank_is_none(value: str) -> str | None:
    return value or None


# Free text is trimmed, bounded after trimming, and stored as NULL when nothing is left.
NoteText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000),
                     AfterValidator(_blank_is_none)]
ProfileText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256),
                        AfterValidator(_blank_is_none)]
ReferenceText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
