"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from cip.api import accounts, health, tenants

API = "/api/v1"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get(API + "/tenants/by-slug/{slug}", tenants.by_slug)
    app.router.add_get(API + "/tenants/by-slug/{slug}/confirm", accounts.confirm_by_slug)
    account = API + "/tenants/{tenant_id}"
    app.router.add_post(account + "/register", accounts.register)
    app.router.add_get(account + "/confirm", accounts.confirm_by_id)
    app.router.add_post(account + "/resend-confirmation", accounts.resend_confirmation)
    app.router.add_post(account + "/login", accounts.login)
    app.router.add_post(account + "/password/forgot", accounts.forgot_password)
    app.router.add_post(account + "/password/reset", accounts.reset_password)
