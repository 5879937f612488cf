"""The OpenAPI 3.1 document, generated from the routes and their pydantic models, and served.

Handlers declare what they accept and answer with `@endpoint(...)`; `build_document(app)` walks
the router, so a route without a declaration is missing from the document (and a test says so).
The document is built once, at start-up (`build_on_startup`), and served as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaValue, models_json_schema

from cip import keys
from cip.http.jsonio import JSON_CONTENT_TYPE, dumps

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
SSE = "text/event-stream"
# One event of a stream, as OpenAPI 3.1 reads an event-stream `schema`: content deltas are
# unnamed (a reader sees them as `message`), the named ones open and end the answer; `data` is
# JSON, or `[DONE]` last.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["meta", "message", "done", "error"]},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
    "required": ["data"],
}
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

# Statuses any API route may answer, whatever it does.
COMMON_ERRORS = {500: "Internal error", 503: "Database unavailable"}
# And those of every route of one tenant (`{tenant_id}` or `{slug}` in its path).
TENANT_ERRORS = {410: "The tenant is disabled (tenant_disabled)"}
# And those of every route that reads a JSON body (`jsonio.parse_json`).
BODY_ERRORS = {
    408: "The body did not arrive in time",
    413: "Body too large",
    415: "Body is not application/json",
    429: "Rate limited, or too many slow bodies from one address",
}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Invalid input",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    410: "Gone",
    413: "Body too large",
    415: "Unsupported media type",
    429: "Rate limited",
    500: "Internal error",
    502: "LLM unavailable",
    503: "Unavailable",
}
IDENTITY_PARAMETERS = [
    {
        "name": "X-User-Id",
        "in": "header",
        "required": False,
        "description": "Guest id (1-64 of letters, digits, '._:-'); omit with a Bearer token.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    },
]


class ErrorOut(BaseModel):
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


Body = type[BaseModel] | Literal["sse"] | None
# What a status answers: a body as above, plain text ("text"), an HTML page ("html"), a
# Markdown file ("markdown"), or (for an error) the description of the envelope.
Response = Body | Literal["text", "html", "markdown"] | str
PLAIN = {
    "text": ("text/plain", "Text"),
    "html": ("text/html", "An HTML page"),
    "markdown": ("text/markdown", "A Markdown file"),
}


@dataclass(frozen=True)
class Endpoint:
    summary: str
    responses: dict[int, Response]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    identity: bool | Literal["body"] = False
    tags: tuple[str, ...] = field(default_factory=tuple)


def endpoint(
    summary: str,
    *,
    responses: dict[int, Response],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    identity: bool | Literal["body"] = False,
    tag: str | None = None,
) -> Callable[[F], F]:
    """Declare a handler's contract; the document is built from these declarations.
    `identity`: True for a guest id in `X-User-Id` or a Bearer token; "body" when the guest
    id travels in the body instead (chat)."""

    def mark(handler: F) -> F:
        handler.__endpoint__ = Endpoint(  # type: ignore[attr-defined]
            summary, responses, body, query, identity, (tag,) if tag else ()
        )
        return handler

    return mark


def declared(handler: Any) -> Endpoint | None:
    return getattr(handler, "__endpoint__", None)


Mode = Literal["validation", "serialization"]
# Where each (model, mode) is in the document's schemas; keyed as pydantic returns it.
Refs = dict[tuple[type[Any], Mode], JsonSchemaValue]


def build_document(
    app: web.Application, *, title: str = "CIP API", version: str = "1"
) -> dict[str, Any]:
    operations = [
        (_PATH_PARAM.sub(r"{\1}", route.resource.canonical), route.method.lower(), spec)
        for route in app.router.routes()
        if route.resource is not None and (spec := declared(route.handler)) is not None
    ]
    models: set[tuple[type[BaseModel], Mode]] = {(ErrorOut, "serialization")}
    for _, _, spec in operations:
        if spec.body is not None:
            models.add((spec.body, "validation"))
        models.update(
            (model, "serialization") for model in spec.responses.values() if isinstance(model, type)
        )
    refs, schemas = models_json_schema(
        sorted(models, key=lambda key: (key[0].__name__, key[1])), ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, spec in sorted(operations, key=lambda op: (op[0], op[1])):
        paths.setdefault(path, {})[method] = _operation(path, spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(path: str, spec: Endpoint, refs: Refs) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if name.endswith("_id")
            else {"type": "string"},
        }
        for name in _PATH_PARAM.findall(path)
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    if spec.identity is True:
        parameters += IDENTITY_PARAMETERS
    operation: dict[str, Any] = {"summary": spec.summary, "parameters": parameters}
    if spec.tags:
        operation["tags"] = list(spec.tags)
    if spec.identity:
        operation["security"] = [{}, {"bearer": []}]
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
    of_tenant = "{tenant_id}" in path or "{slug}" in path
    errors = {
        **COMMON_ERRORS,
        **(TENANT_ERRORS if of_tenant else {}),
        **(BODY_ERRORS if spec.body is not None else {}),
    }
    operation["responses"] = {
        str(status): _response(status, model, refs)
        for status, model in sorted({**errors, **spec.responses}.items())
    }
    return operation


def _response(status: int, model: Response, refs: Refs) -> dict[str, Any]:
    description = STATUS_TEXT.get(status, "Response")
    if model in PLAIN:
        media_type, what = PLAIN[model]
        return {"description": what, "content": {media_type: {"schema": {"type": "string"}}}}
    if status >= 400 and not isinstance(model, type):
        return {
            "description": model if isinstance(model, str) else description,
            "content": {"application/json": {"schema": refs[(ErrorOut, "serialization")]}},
        }
    if model is None:
        return {"description": description}
    if model == "sse":
        return {
            "description": "Server-Sent Events: meta, content deltas, done or error",
            "content": {SSE: {"schema": SSE_EVENT}},
        }
    assert isinstance(model, type)
    return {
        "description": description,
        "content": {"application/json": {"schema": refs[(model, "serialization")]}},
    }


async def build_on_startup(app: web.Application) -> None:
    app[keys.OPENAPI_DOCUMENT] = dumps(build_document(app))


async def serve_document(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[keys.OPENAPI_DOCUMENT], content_type=JSON_CONTENT_TYPE, charset="utf-8"
    )
