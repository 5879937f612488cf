"""`GET /tenants/by-slug/{slug}`: what a page needs to know of a tenant."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.colours import text_on
from cip.config import Locale, Theme
from cip.http.brand import asset_url
from cip.http.jsonio import json_response
from cip.http.openapi import endpoint
from cip.tenancy import Tenant


class BrandOut(BaseModel):
    accent: str | None  # #rrggbb; null: the pages' own
    accent_text: str | None  # the text colour on the accent (white or dark)
    bot_name: str | None
    logo_url: str | None  # stable path under the service's origin, with a version
    avatar_url: str | None
    quick_replies: list[str]
    theme: Theme

    @classmethod
    def of(cls, tenant: Tenant) -> BrandOut:
        brand = tenant.settings.brand
        return cls(
            accent=brand.accent,
            accent_text=text_on(brand.accent) if brand.accent else None,
            bot_name=brand.bot_name,
            logo_url=asset_url(tenant, "logo"),
            avatar_url=asset_url(tenant, "avatar"),
            quick_replies=brand.quick_replies,
            theme=brand.theme,
        )


class TenantOut(BaseModel):
    id: UUID
    slug: str
    name: str
    welcome_message: str | None
    locale: Locale
    brand: BrandOut

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            welcome_message=tenant.settings.welcome_message,
            locale=tenant.settings.locale,
            brand=BrandOut.of(tenant),
        )


@endpoint("Tenant by slug", responses={200: TenantOut, 404: "Unknown slug"}, tag="tenants")
async def by_slug(request: web.Request) -> web.Response:
    return json_response(TenantOut.of(request[keys.TENANT]))
