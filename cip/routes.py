"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from cip import pages
from cip.api import accounts, chat, health, openapi_doc, tenants
from cip.api.cabinet import dialogs as my_dialogs
from cip.api.cabinet import profile as my_profile
from cip.api.cabinet import saved as my_saved

API = "/api/v1"
ME = API + "/tenants/{tenant_id}/me"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get(API + "/openapi.json", openapi_doc.document)
    app.on_startup.append(openapi_doc.build_on_startup)
    app.router.add_get(API + "/tenants/by-slug/{slug}", tenants.by_slug)
    app.router.add_post(API + "/tenants/{tenant_id}/chat", chat.post_chat)
    app.router.add_get(ME + "/dialogs", my_dialogs.list_dialogs)
    app.router.add_get(ME + "/dialogs/{dialog_id}", my_dialogs.get_dialog)
    app.router.add_get(ME + "/saved", my_saved.list_saved)
    app.router.add_post(ME + "/saved", my_saved.save_item)
    app.router.add_delete(ME + "/saved/{item_id}", my_saved.delete_item)
    app.router.add_get(ME + "/profile", my_profile.get_profile)
    app.router.add_patch(ME + "/profile", my_profile.patch_profile)
    app.router.add_get(API + "/tenants/by-slug/{slug}/confirm", accounts.confirm_by_slug)
    account = API + "/tenants/{tenant_id}"
    app.router.add_post(account + "/register", accounts.register)
    app.router.add_get(account + "/confirm", accounts.confirm_by_id)
    app.router.add_post(account + "/resend-confirmation", accounts.resend_confirmation)
    app.router.add_post(account + "/login", accounts.login)
    app.router.add_post(account + "/password/forgot", accounts.forgot_password)
    app.router.add_post(account + "/password/reset", accounts.reset_password)

    # Pages last: `/{slug}/...` must not shadow the API, the static files or the probes.
    app.router.add_static("/static/", pages.STATIC_DIR, name="static")
    for path, handler in pages.page_routes():
        app.router.add_get(path, handler)
    app.router.add_get("/{slug}", pages.tenant_root)
    app.router.add_get("/{slug}/", pages.tenant_root)
