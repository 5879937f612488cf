"""Serves the OpenAPI document, built once at start-up from the route declarations."""

from __future__ import annotations

from aiohttp import web

from cip import keys
from cip.openapi import build_document
from cip.web import dumps


async def build_on_startup(app: web.Application) -> None:
    app[keys.OPENAPI_DOCUMENT] = dumps(build_document(app))


async def document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.OPENAPI_DOCUMENT],
                        content_type="application/json", charset="utf-8")
