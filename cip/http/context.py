"""A request's context, resolved once: its tenant, its caller, the client's address.

`tenant_context` (a middleware) puts the tenant named by a route's `{tenant_id}` or `{slug}`
on the request under `keys.TENANT` before the handler runs: for the API a malformed id is a
400, an unknown tenant a 404 and a disabled one a 410 (`tenant_disabled`); the pages answer
their 404 and 410 pages instead.
`caller(request, guest_id)` resolves who is calling, once, under `keys.CALLER`.
"""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from cip import errors, keys
from cip.accounts.identity import Identity
from cip.http import pages
from cip.http.forwarded import client_address
from cip.http.jsonio import path_uuid, read_body
from cip.http.middlewares import API_PREFIX, Handler, error_response
from cip.limits import MINUTE, cabinet_limits

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body not all there when its headers are is read here, within `[server]
    body_timeout` (408 past it) and counted against its address's `slow_bodies_per_client`
    (429 past it); both close the connection. The handler then reads the kept body."""
    if request.body_exists and not request.content.is_eof():
        server = request.app[keys.CONFIG].server
        try:
            with request.app[keys.SLOW_BODIES].arriving(client_ip(request)):
                async with asyncio.timeout(server.body_timeout):
                    await read_body(request)
        except TimeoutError:
            return await _closing(request, errors.RequestTimeout())
        except errors.RateLimited as refused:
            return await _closing(request, refused)
    return await handler(request)


async def _closing(request: web.Request, error: errors.ApiError) -> web.Response:
    """The error's answer, sent now, then the connection closed: the rest of the body is
    never read (aiohttp would otherwise linger, reading it, before closing)."""
    response = error_response(error)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response


@web.middleware
async def tenant_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    info, cache = request.match_info, request.app[keys.TENANTS]
    api = request.path.startswith(API_PREFIX)
    if api and "tenant_id" in info:
        tenant = await cache.by_id(path_uuid(request, "tenant_id"))
    elif "slug" in info:
        try:
            tenant = await cache.by_slug(info["slug"])
        except errors.NotFound:
            if api:
                raise
            return pages.not_found_page(request)
    else:
        return await handler(request)
    request[keys.TENANT] = tenant
    if tenant.disabled:
        if api:
            raise errors.TenantDisabled()
        return pages.disabled_page(request, tenant)
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
    """The client's address, for rate limits: the TCP peer, or, when the peer is one of
    `[server] trusted_proxies`, the client their `X-Forwarded-For` names (cip.http.forwarded)."""
    return client_address(
        request.remote or "unknown",
        request.headers.getall(hdrs.X_FORWARDED_FOR, ()),
        request.app[keys.CONFIG].server.trusted_proxies,
    )
