"""What every request passes through: its id and log line, the one error envelope, CORS for
the API from each tenant's allowed origins, and the security headers of every response.

A tenant's pages are served by this app (same origin); other sites may call a tenant's API
only when their origin is listed in the tenant's `allowed_origins` (`[tenants.<slug>]`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from aiohttp import web

from cip import errors, keys, metrics, slugs
from cip.http.jsonio import json_response
from cip.logs import Verbatim

log = logging.getLogger("cip.request")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = f"/{slugs.API}/"
REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

ORIGIN_NOT_ALLOWED = "This origin may not call this tenant's API."
_TENANT_PATH = re.compile(
    r"^/api/v1/tenants/(?:by-slug/(?P<slug>[a-z0-9-]{1,63})|(?P<id>[0-9a-fA-F-]{36}))(?:/|$)"
)
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-User-Id, X-Request-Id"
EXPOSE_HEADERS = "Retry-After, X-Request-Id"
PREFLIGHT_MAX_AGE = "600"

_HTTP_CODES = {
    404: ("not_found", errors.ROUTE_NOT_FOUND),
    405: ("method_not_allowed", errors.METHOD_NOT_ALLOWED),
}


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tags the request with an id (sent back in `X-Request-Id`), then, timed once, logs one
    line (method, path, status, duration; for the JSON log also its tenant and route
    template) and counts it in the metrics by route template and status (`cip.metrics`).
    Only the path is logged: query strings may carry tokens. Outside `error_envelope`, so
    both see the status the client gets (500 for an exception that is not an HTTP one).
    """
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        seconds = time.perf_counter() - started
        _log_request(request, request_id, status, seconds)
        metrics.record_request(request, status, seconds)


def _log_request(request: web.Request, request_id: str, status: int, seconds: float) -> None:
    duration_ms = round(seconds * 1000, 1)
    tenant = request.get(keys.TENANT)
    context = {
        "request_id": request_id,
        "tenant_id": tenant.id if tenant else None,
        "route": metrics.route_template(request),
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": duration_ms,
    }
    log.info(
        "%s %s %s %d %.1fms",
        request_id,
        request.method,
        request.path,
        status,
        duration_ms,
        extra={"context": context},
    )


def error_response(error: errors.ApiError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


def _from_http_exception(exc: web.HTTPException) -> errors.ApiError:
    code, detail = _HTTP_CODES.get(
        exc.status, (re.sub(r"\W+", "_", exc.reason.lower()), exc.reason)
    )
    error = errors.ApiError(detail, code=code)
    error.status = exc.status
    error.headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    return error


@web.middleware
async def error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One envelope for every failure; nothing internal reaches the client."""
    try:
        return await handler(request)
    except errors.DatabaseUnavailable as exc:
        cause = exc.__cause__
        log.warning("database unavailable: %s: %s", type(cause).__name__, cause)
        return error_response(exc)
    except errors.ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc))
    except asyncio.CancelledError:
        raise
    except asyncpg.DataError as exc:  # its text quotes the offending value: user data
        log.error(
            "unhandled %s in %s %s (value withheld)\n%s",
            type(exc).__name__,
            request.method,
            request.path,
            Verbatim("".join(traceback.format_tb(exc.__traceback__))),
        )
        return error_response(errors.InternalError())
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(errors.InternalError())


async def _origin_allowed(request: web.Request, origin: str) -> bool:
    """Whether the tenant named in the path lets `origin` call its API (`admits_origin`, the
    rule its pages' frame-ancestors follow too)."""
    match = _TENANT_PATH.match(request.path)
    if match is None:
        return False
    cache = request.app[keys.TENANTS]
    try:
        tenant = await (
            cache.by_slug(match["slug"]) if match["slug"] else cache.by_id(UUID(match["id"]))
        )
    except (errors.ApiError, ValueError):
        return False
    return tenant.settings.admits_origin(origin)


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    }


@web.middleware
async def cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers CORS preflight requests before routing (no route declares OPTIONS)."""
    origin = request.headers.get("Origin")
    if (
        request.method != "OPTIONS"
        or origin is None
        or "Access-Control-Request-Method" not in request.headers
    ):
        return await handler(request)
    if not await _origin_allowed(request, origin):
        raise errors.Forbidden(ORIGIN_NOT_ALLOWED, code="origin_not_allowed")
    return web.Response(
        status=204,
        headers={
            **_cors_headers(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs before the headers of any response (streams included) go
    out. Adds the request id, nosniff, a referrer policy and, for an allowed origin, CORS."""
    headers = response.headers
    request_id = request.get(keys.REQUEST_ID)
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    origin = request.headers.get("Origin")
    if (
        origin
        and request.path.startswith(API_PREFIX)
        and "Access-Control-Allow-Origin" not in headers
    ):
        try:
            allowed = await _origin_allowed(request, origin)
        except Exception:  # the database may be down; the answer then simply carries no CORS
            allowed = False
        if allowed:
            headers.update(_cors_headers(origin))
