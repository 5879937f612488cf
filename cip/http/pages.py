"""The browser pages (SPEC §7): one template per page (`templates/`, Jinja2 with autoescape),
filled with the tenant, and the security headers every page carries. The tenant is looked up
before the page (`cip.http.context.tenant_context`): an unknown one gets the 404 page, a
disabled one the 410 page.

Pages hold no text of their own: the page scripts (`static/js/`) fill every `data-i18n`
element from `static/js/i18n.js` in the tenant's language. The server only puts the tenant
(slug, id, name, locale, welcome message) into `data-` attributes of `<body>`, so no inline
script is needed and the Content-Security-Policy can forbid it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cip import keys
from cip.db.store import tenants
from cip.http.brand import asset_url
from cip.tenancy import Tenant

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Pages whose URL carries a secret token: no referrer may leak it to another page.
REFERRER_DEFAULT = "strict-origin-when-cross-origin"
REFERRER_NONE = "no-referrer"
HOME_LIST_MAX = 200  # tenants listed on `/` in development
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Page:
    """A page: its template in `templates/`, its script module in `static/js/`."""

    name: str
    script: str
    referrer: str = REFERRER_DEFAULT


# Path under /{slug}/ -> page. The order is the order of the routes.
PAGES: dict[str, Page] = {
    "chat": Page("chat", "chat"),
    "my": Page("my", "cabinet"),
    "my/dialogs": Page("dialogs", "cabinet"),
    "my/dialogs/{dialog_id}": Page("dialog", "cabinet"),
    "my/saved": Page("saved", "cabinet"),
    "my/profile": Page("profile", "cabinet"),
    "register": Page("register", "account"),
    "login": Page("login", "account"),
    "confirm": Page("confirm", "account", referrer=REFERRER_NONE),
    "forgot": Page("forgot", "account"),
    "reset": Page("reset", "account", referrer=REFERRER_NONE),
}


def setup_templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )


def content_security_policy(ancestors: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: https:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def page_headers(ancestors: str, referrer: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(ancestors),
        "Referrer-Policy": referrer,
        "Cache-Control": "no-cache",
    }


def frame_ancestors(tenant: Tenant) -> str:
    """`'self'` plus the tenant's allowed origins (the browser matches them as
    `OriginRule.admits` does for the API)."""
    return " ".join(["'self'", *(rule.source for rule in tenant.settings.allowed_origins)])


def not_found_page(request: web.Request) -> web.Response:
    """The friendly 404 for an unknown tenant, in both languages (there is no tenant to ask)."""
    response = aiohttp_jinja2.render_template("not_found.html", request, {}, status=404)
    response.headers.update(page_headers("'self'", REFERRER_DEFAULT))
    return response


def disabled_page(request: web.Request, tenant: Tenant) -> web.Response:
    """The 410 of a disabled tenant, in both languages; it may still show in the tenant's
    frame."""
    context = {"tenant": tenant}
    response = aiohttp_jinja2.render_template("disabled.html", request, context, status=410)
    response.headers.update(page_headers(frame_ancestors(tenant), REFERRER_DEFAULT))
    return response


def embedding(request: web.Request, tenant: Tenant, page: Page) -> dict[str, object]:
    """The chat in the widget's frame (`?embed=1`): compact, and talking to its parent page
    (`postMessage`) only when `parent` names an origin the tenant allows. The browser holds
    the frame to `frame-ancestors` whatever `parent` says, and a message posted to an origin
    that is not the real parent's is never delivered."""
    if page.name != "chat" or request.query.get("embed") != "1":
        return {"embed": False, "parent_origin": ""}
    parent = request.query.get("parent", "")
    allowed = parent if tenant.settings.admits_origin(parent) else ""
    return {"embed": True, "parent_origin": allowed}


def page_handler(page: Page) -> PageHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        tenant = request[keys.TENANT]
        context = {
            "tenant": tenant,
            "page": page,
            "home": f"/{tenant.slug}",
            "brand": tenant.settings.brand,
            "logo": asset_url(tenant, "logo"),
            "max_chars": tenant.settings.limits.message_max_chars,
            **embedding(request, tenant, page),
        }
        response = aiohttp_jinja2.render_template(f"{page.name}.html", request, context)
        response.headers.update(page_headers(frame_ancestors(tenant), page.referrer))
        return response

    handler.__name__ = f"page_{page.name}"
    return handler


async def home(request: web.Request) -> web.StreamResponse:
    """`/`: in development, the tenants' chat pages (a newcomer's first stop after `make
    run`); in production `[server] root_redirect`, or a small neutral page that names no
    tenant."""
    config = request.app[keys.CONFIG]
    if config.is_production and config.server.root_redirect:
        raise web.HTTPFound(config.server.root_redirect)
    listed = []
    if not config.is_production:
        rows = await tenants.list_all(request.app[keys.POOL])
        listed = [row for row in rows if row.disabled_at is None][:HOME_LIST_MAX]
    response = aiohttp_jinja2.render_template("home.html", request, {"tenants": listed})
    response.headers.update(page_headers("'self'", REFERRER_DEFAULT))
    return response


async def tenant_root(request: web.Request) -> web.StreamResponse:
    """`/{slug}` and `/{slug}/` lead to the chat."""
    raise web.HTTPFound(f"/{request[keys.TENANT].slug}/chat")


def page_routes() -> Iterator[tuple[str, PageHandler]]:
    for path, page in PAGES.items():
        yield f"/{{slug}}/{path}", page_handler(page)
