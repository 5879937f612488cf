"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from typing import Literal

from pydantic import BaseModel

from cip import db, keys
from cip.openapi import endpoint
from cip.web import json_response


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


@endpoint("Liveness: the process is up", responses={200: HealthOut}, tag="operations")
async def healthz(request: web.Request) -> web.Response:
    return json_response(HealthOut(status="ok"))


@endpoint("Readiness: database reachable and migrated",
          responses={200: ReadyOut, 503: "Database unreachable or not migrated"}, tag="operations")
async def readyz(request: web.Request) -> web.Response:
    config = request.app[keys.CONFIG]
    if await db.is_ready(request.app[keys.POOL], timeout=config.database.connect_timeout):
        return json_response(ReadyOut(status="ok", database="ok"))
    return json_response(ReadyOut(status="unavailable", database="unavailable"), status=503)
