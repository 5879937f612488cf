"""JSON in and out: responses as real UTF-8 JSON, and request bodies, queries and path ids
parsed into pydantic models, bad input answered 400 with details."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cip import errors

T = TypeVar("T", bound=BaseModel)
JSON_CONTENT_TYPE = "application/json"
NUL_IN_TEXT = "Text must not contain NUL characters."


def dumps(value: Any) -> bytes:
    """JSON as real UTF-8 (no \\u escapes); understands pydantic models, UUIDs, datetimes."""
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError


def json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(value),
        status=status,
        headers=headers,
        content_type=JSON_CONTENT_TYPE,
        charset="utf-8",
    )


async def parse_json(request: web.Request, model: type[T]) -> T:
    """The request body validated as `model`; anything else is a 400 with details. A body
    not declared `application/json` is a 415 and is not read: text/plain and form bodies are
    what browsers send cross-origin without a CORS preflight."""
    if request.content_type != JSON_CONTENT_TYPE:
        raise errors.UnsupportedMediaType()
    raw = await read_body(request)
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise errors.ValidationFailed(
            "The request body is not valid JSON.", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise errors.ValidationFailed(
            "The request body must be a JSON object.", code="invalid_json"
        )
    where = nul_location(data)
    if where is not None:
        raise errors.ValidationFailed(
            NUL_IN_TEXT,
            code="invalid_text",
            errors=[{"loc": where, "msg": NUL_IN_TEXT, "type": "nul_character"}],
        )
    return validate(model, data)


async def read_body(request: web.Request) -> bytes:
    """The whole body (aiohttp keeps it: a second read costs nothing); 413 past
    `client_max_size`, 400 for a body cut short or not decodable."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.PayloadTooLarge() from None
    except ConnectionError:  # the client hung up mid-body: its error, no one hears the answer
        raise errors.ValidationFailed(errors.BODY_INCOMPLETE, code="body_incomplete") from None
    except web.RequestPayloadError:  # e.g. a `Content-Encoding: gzip` body that is not gzip
        raise errors.ValidationFailed(errors.BODY_UNREADABLE, code="body_unreadable") from None


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


def parse_query(request: web.Request, model: type[T]) -> T:
    """The query string validated as `model`; 400 with details otherwise."""
    return validate(model, dict(request.query))


def path_uuid(request: web.Request, field: str) -> UUID:
    """The UUID in the path parameter `field`; 400 when it is not one."""
    try:
        return UUID(request.match_info[field])
    except ValueError:
        raise errors.ValidationFailed(
            f"{field} must be a UUID.",
            code=f"invalid_{field}",
            errors=[{"loc": ["path", field], "msg": "not a valid UUID", "type": "uuid_parsing"}],
        ) from None
