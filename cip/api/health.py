"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from cip import db, keys
from cip.web import json_response


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    config = request.app[keys.CONFIG]
    if await db.is_ready(request.app[keys.POOL], timeout=config.database.acquire_timeout):
        return json_response({"status": "ok", "database": "ok"})
    return json_response({"status": "unavailable", "database": "unavailable"}, status=503)
