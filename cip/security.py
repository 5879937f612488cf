"""Security headers on every response, and CORS for the API from each tenant's allowed origins.

A tenant's pages are served by this app (same origin); other sites may call a tenant's API only
when their origin is listed in the tenant's `allowed_origins` (`[tenants.<slug>]`).
"""

from __future__ import annotations

import re
from uuid import UUID

from aiohttp import web

from cip import errors, keys
from cip.web import Handler

ORIGIN_NOT_ALLOWED = "This origin may not call this tenant's API."
_TENANT_PATH = re.compile(
    r"^/api/v1/tenants/(?:by-slug/(?P<slug>[a-z0-9-]{1,63})|(?P<id>[0-9a-fA-F-]{36}))(?:/|$)")
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-User-Id, X-Request-Id"
EXPOSE_HEADERS = "Retry-After, X-Request-Id"
PREFLIGHT_MAX_AGE = "600"


async def _allowed_origins(request: web.Request) -> list[str]:
    match = _TENANT_PATH.match(request.path)
    if match is None:
        return []
    cache = request.app[keys.TENANTS]
    try:
        tenant = await (cache.by_slug(match["slug"]) if match["slug"]
                        else cache.by_id(UUID(match["id"])))
    except (errors.ApiError, ValueError):
        return []
    return tenant.allowed_origins


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS}


@web.middleware
async def preflight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers CORS preflight requests before routing (no route declares OPTIONS)."""
    origin = request.headers.get("Origin")
    if (request.method != "OPTIONS" or origin is None
            or "Access-Control-Request-Method" not in request.headers):
        return await handler(request)
    if origin not in await _allowed_origins(request):
        raise errors.Forbidden(ORIGIN_NOT_ALLOWED, code="origin_not_allowed")
    return web.Response(status=204, headers={
        **_cors_headers(origin),
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    })


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Runs before the headers of any response (streams included) go out."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    origin = request.headers.get("Origin")
    if origin and request.path.startswith("/api/") and "Access-Control-Allow-Origin" not in headers:
        try:
            allowed = origin in await _allowed_origins(request)
        except Exception:  # the database may be down; the answer then simply carries no CORS
            allowed = False
        if allowed:
            headers.update(_cors_headers(origin))
