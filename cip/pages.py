"""The browser pages (SPEC §7): one HTML shell per page, filled with the tenant, and the
security headers every page carries.

Pages hold no text of their own: the page scripts (`static/js/`) fill every `data-i18n`
element from `static/js/i18n.js` in the tenant's language. The server only puts the tenant
(slug, id, name, locale, welcome message) into `data-` attributes of `<body>`, so no inline
script is needed and the Content-Security-Policy can forbid it.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from aiohttp import web

from cip import errors, keys
from cip.config import SLUG_PATTERN
from cip.store.tenants import TenantRow

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATES_DIR = STATIC_DIR / "pages"
HTML_CONTENT_TYPE = "text/html"

# Pages whose URL carries a secret token: no referrer may leak it to another page.
REFERRER_DEFAULT = "strict-origin-when-cross-origin"
REFERRER_NONE = "no-referrer"


@dataclass(frozen=True, slots=True)
class Page:
    """A page: its template in `static/pages/`, its script module in `static/js/`."""

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


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES_DIR / f"{name}.html").read_text(encoding="utf-8"))


def frame_ancestors(tenant: TenantRow) -> str:
    """`'self'` plus the tenant's allowed embedding origins."""
    return " ".join(["'self'", *tenant.allowed_origins])


def content_security_policy(ancestors: str) -> str:
    return "; ".join([
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
    ])


def page_headers(ancestors: str, referrer: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(ancestors),
        "Referrer-Policy": referrer,
        "Cache-Control": "no-cache",
    }


def render(page: Page, tenant: TenantRow) -> str:
    values = {
        "slug": tenant.slug,
        "tenant_id": str(tenant.id),
        "tenant_name": tenant.name,
        "locale": tenant.locale,
        "welcome": tenant.welcome_message or "",
        "page": page.name,
        "script": page.script,
    }
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    content = template(page.name).substitute(escaped)
    return template("layout").substitute(escaped, content=content)


def not_found_page() -> web.Response:
    """The friendly 404 for an unknown tenant, in both languages (there is no tenant to ask)."""
    return web.Response(
        text=template("not_found").template, status=404, content_type=HTML_CONTENT_TYPE,
        charset="utf-8", headers=page_headers("'self'", REFERRER_DEFAULT),
    )


async def _tenant_or_none(request: web.Request) -> TenantRow | None:
    slug = request.match_info["slug"]
    if not SLUG_PATTERN.match(slug):
        return None
    try:
        return await request.app[keys.TENANTS].by_slug(slug)
    except errors.NotFound:
        return None


def page_handler(page: Page) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        tenant = await _tenant_or_none(request)
        if tenant is None:
            return not_found_page()
        return web.Response(
            text=render(page, tenant), content_type=HTML_CONTENT_TYPE, charset="utf-8",
            headers=page_headers(frame_ancestors(tenant), page.referrer),
        )

    handler.__name__ = f"page_{page.name}"
    return handler


async def tenant_root(request: web.Request) -> web.Response:
    """`/{slug}` and `/{slug}/` lead to the chat."""
    tenant = await _tenant_or_none(request)
    if tenant is None:
        return not_found_page()
    raise web.HTTPFound(f"/{tenant.slug}/chat")


def page_routes() -> Iterable[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
    for path, page in PAGES.items():
        yield f"/{{slug}}/{path}", page_handler(page)

