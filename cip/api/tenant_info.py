"""`GET /tenants/by-slug/{slug}`: what a page needs to know of a tenant."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.config import Locale
from cip.http.jsonio import json_response
from cip.http.openapi import endpoint
from cip.tenancy import Tenant


class TenantOut(BaseModel):
    id: UUID
    slug: str
    name: str
    welcome_message: str | None
    locale: Locale

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            welcome_message=tenant.settings.welcome_message,
            locale=tenant.settings.locale,
        )


@endpoint("Tenant by slug", responses={200: TenantOut, 404: "Unknown slug"}, tag="tenants")
async def by_slug(request: web.Request) -> web.Response:
    return json_response(TenantOut.of(request[keys.TENANT]))
