"""HTTP plumbing shared by every handler: JSON responses, request parsing, the error envelope
and the request log."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cip import errors

log = logging.getLogger("cip.request")
T = TypeVar("T", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
JSON_CONTENT_TYPE = "application/json"
NUL_IN_TEXT = "Text must not contain NUL characters."


def dumps(value: Any) -> bytes:
    """JSON as real UTF-8 (no \\u escapes); understands pydantic models, UUIDs, datetimes."""
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(value), status=status, headers=headers,
        content_type=JSON_CONTENT_TYPE, charset="utf-8",
    )


async def parse_json(request: web.Request, model: type[T]) -> T:
    """The request body validated as `model`; anything else is a 400 with details."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.PayloadTooLarge() from None
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise errors.ValidationFailed("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise errors.ValidationFailed("The request body must be a JSON object.", code="invalid_json")
    where = nul_location(data)
    if where is not None:
        raise errors.ValidationFailed(NUL_IN_TEXT, code="invalid_text", errors=[
            {"loc": where, "msg": NUL_IN_TEXT, "type": "nul_character"}])
    return validate(model, data)


def nul_location(value: Any) -> list[str] | None:
    """Where U+0000 hides in a JSON value: PostgreSQL text cannot hold it, so it is refused
    at the door. Iterative, so no nesting depth the JSON parser accepts can exhaust the stack."""
    pending: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return list(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return [*path, key]
                pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, str(index)), child) for index, child in enumerate(item))
    return None


def validate(model: type[T], data: Any) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(errors=validation_details(exc)) from None


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def error_response(error: errors.ApiError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


_HTTP_CODES = {404: ("not_found", errors.ROUTE_NOT_FOUND), 405: ("method_not_allowed", errors.METHOD_NOT_ALLOWED)}


def _from_http_exception(exc: web.HTTPException) -> errors.ApiError:
    code, detail = _HTTP_CODES.get(exc.status, (re.sub(r"\W+", "_", exc.reason.lower()), exc.reason))
    error = errors.ApiError(detail, code=code)
    error.status = exc.status
    error.headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One envelope for every failure; nothing internal reaches the client."""
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc))
    except (asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
            asyncpg.InterfaceError, asyncpg.TooManyConnectionsError,
            ConnectionError, OSError, asyncio.TimeoutError) as exc:
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return error_response(errors.ServiceUnavailable(errors.DATABASE_UNAVAILABLE, code="database_unavailable"))
    except asyncio.CancelledError:
        raise
    except asyncpg.DataError as exc:  # its text quotes the offending value: user data
        log.error("unhandled %s in %s %s (value withheld)\n%s", type(exc).__name__,
                  request.method, request.path, "".join(traceback.format_tb(exc.__traceback__)))
        return error_response(errors.InternalError())
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(errors.InternalError())


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tags the request with an id and logs one line: method, path, status, duration.

    Only the path is logged: query strings may carry tokens.
    """
    incoming = request.headers.get(_REQUEST_ID_HEADER, "")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[_REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        log.info(
            "%s %s %s %d %.1fms", request_id, request.method, request.path, status,
            (time.perf_counter() - started) * 1000,
        )
