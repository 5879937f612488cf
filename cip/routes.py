"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from cip import pages
from cip.api import health, openapi_doc, tenants

API = "/api/v1"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get(API + "/openapi.json", openapi_doc.document)
    app.on_startup.append(openapi_doc.build_on_startup)
    app.router.add_get(API + "/tenants/by-slug/{slug}", tenants.by_slug)

    # Pages last: `/{slug}/...` must not shadow the API, the static files or the probes.
    app.router.add_static("/static/", pages.STATIC_DIR, name="static")
    for path, handler in pages.page_routes():
        app.router.add_get(path, handler)
    app.router.add_get("/{slug}", pages.tenant_root)
    app.router.add_get("/{slug}/", pages.tenant_root)
