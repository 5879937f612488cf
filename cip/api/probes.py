"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from cip import keys
from cip.db.pool import is_ready
from cip.http.jsonio import json_response
from cip.http.openapi import endpoint


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


@endpoint("Liveness: the process is up", responses={200: HealthOut}, tag="operations")
async def healthz(request: web.Request) -> web.Response:
    return json_response(HealthOut(status="ok"))


@endpoint(
    "Readiness: database reachable and migrated",
    responses={200: ReadyOut, 503: "Database unreachable or not migrated"},
    tag="operations",
)
async def readyz(request: web.Request) -> web.Response:
    pool, timeout = request.app[keys.POOL], request.app[keys.CONFIG].database.connect_timeout
    if await is_ready(pool, timeout=timeout):
        return json_response(ReadyOut(status="ok", database="ok"))
    return json_response(ReadyOut(status="unavailable", database="unavailable"), status=503)
