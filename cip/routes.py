"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from cip.api import chat, health, tenants

API = "/api/v1"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get(API + "/tenants/by-slug/{slug}", tenants.by_slug)
    app.router.add_post(API + "/tenants/{tenant_id}/chat", chat.post_chat)
