"""A request's context, resolved once: its tenant, its caller, the client's address.

`tenant_context` (a middleware) puts the tenant named by an API route's `{tenant_id}` or
`{slug}` on the request under `keys.TENANT` before the handler runs: a malformed id is a 400,
an unknown tenant a 404. (The pages look their tenant up themselves: theirs is a 404 page.)
`caller(request, guest_id)` resolves who is calling, once, under `keys.CALLER`.
"""

from __future__ import annotations

from aiohttp import web

from cip import errors, keys
from cip.accounts.identity import Identity
from cip.http.jsonio import path_uuid
from cip.http.middlewares import API_PREFIX, Handler
from cip.limits import MINUTE, cabinet_limits

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def tenant_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    info = request.match_info
    if request.path.startswith(API_PREFIX):
        if "tenant_id" in info:
            tenant_id = path_uuid(request, "tenant_id")
            request[keys.TENANT] = await request.app[keys.TENANTS].by_id(tenant_id)
        elif "slug" in info:
            request[keys.TENANT] = await request.app[keys.TENANTS].by_slug(info["slug"])
    return await handler(request)


async def caller(request: web.Request, guest_id: str | None) -> Identity:
    """The caller in the request's tenant: its Bearer token, else the guest id the request
    names (400/401/403 for a missing or bad one)."""
    found = request.get(keys.CALLER)
    if found is None:
        found = await request.app[keys.IDENTITIES].resolve(
            tenant_id=request[keys.TENANT].id,
            authorization=request.headers.get("Authorization"),
            guest_id=guest_id,
        )
        request[keys.CALLER] = found
    return found


async def visitor(request: web.Request) -> Identity:
    """The caller of a cabinet route: a Bearer token, or the guest id in `X-User-Id`; the
    request is counted against the cabinet's rate limits (429 past them)."""
    who = await caller(request, request.headers.get("X-User-Id"))
    tenant = request[keys.TENANT]
    buckets = cabinet_limits(
        tenant.id,
        tenant.settings.limits,
        user_id=who.user_id,
        ip=client_ip(request),
        write=request.method not in SAFE_METHODS,
    )
    await request.app[keys.LIMITER].check(buckets, MINUTE, errors.CABINET_RATE_LIMITED)
    return who


def client_ip(request: web.Request) -> str:
    """The client's address for rate limits: the peer address. Behind a reverse proxy every
    client would share the proxy's address, so such a setup needs a trusted forwarded header
    (aiohttp-remotes) configured first."""
    return request.remote or "unknown"
