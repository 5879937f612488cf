"""Tenant routes, and the tenant lookup every tenant-scoped handler starts with."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cip import errors, keys
from cip.openapi import endpoint
from cip.store.tenants import TenantRow
from cip.web import json_response


class TenantOut(BaseModel):
    id: UUID
    slug: str
    name: str
    welcome_message: str | None
    locale: Literal["ru", "en"]

    @classmethod
    def of(cls, tenant: TenantRow) -> TenantOut:
        return cls(id=tenant.id, slug=tenant.slug, name=tenant.name,
                   welcome_message=tenant.welcome_message, locale=tenant.locale)


def parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise errors.ValidationFailed(
            f"{field} must be a UUID.", code=f"invalid_{field}",
            errors=[{"loc": ["path", field], "msg": "not a valid UUID", "type": "uuid_parsing"}],
        ) from None


async def tenant_from_path(request: web.Request) -> TenantRow:
    """The tenant named by `{tenant_id}` in the path: malformed → 400, unknown → 404."""
    tenant_id = parse_uuid(request.match_info["tenant_id"], "tenant_id")
    return await request.app[keys.TENANTS].by_id(tenant_id)


@endpoint("Tenant by slug", responses={200: TenantOut, 404: "Unknown slug"}, tag="tenants")
async def by_slug(request: web.Request) -> web.Response:
    tenant = await request.app[keys.TENANTS].by_slug(request.match_info["slug"])
    return json_response(TenantOut.of(tenant))
