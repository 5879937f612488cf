"""A tenant's brand on its pages, and the script other sites embed the chat with.

- `/{slug}/brand.css`: the tenant's accent as CSS custom properties (and its bot's name and
  avatar over its answers), a stylesheet of its own so the pages' Content-Security-Policy
  keeps forbidding inline style. Revalidated on every page load (`no-cache` + ETag): a
  change reaches the pages within the tenant cache's lifetime.
- `/{slug}/brand/logo`, `/{slug}/brand/avatar`: the two files `[tenants.<slug>.brand]`
  names, nothing else. Served by type from an allow-list of extensions, size-bounded, with
  ETag / Last-Modified (304 on a match) and an hour of caching; the pages link them with a
  version that changes with the file. SVG comes with a CSP that runs no script even when
  the file is opened on its own (as an `<img>` it never does).
- `/widget.js`: the launcher a company's site loads (`static/widget.js`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

from cip import errors, keys
from cip.colours import link_colours, text_on
from cip.config import BRAND_FILE_MAX_BYTES, BRAND_FILE_TYPES
from cip.tenancy import Tenant

ASSETS = ("logo", "avatar")
ASSET_CACHE = "public, max-age=3600"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
WIDGET = Path(__file__).resolve().parents[2] / "static" / "widget.js"
WIDGET_CACHE = "public, max-age=300"


def asset_path(tenant: Tenant, name: str) -> Path | None:
    brand = tenant.settings.brand
    return {"logo": brand.logo, "avatar": brand.avatar}.get(name)


def asset_url(tenant: Tenant, name: str) -> str | None:
    """The stable URL of a brand file, with a version that changes with the file (so the
    pages see a new one at once); None when the tenant has none or it is gone."""
    path = asset_path(tenant, name)
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    if stat is None:
        return None
    return f"/{tenant.slug}/brand/{name}?v={stat.st_mtime_ns:x}-{stat.st_size:x}"


def css_string(text: str) -> str:
    """`text` as a CSS string: every character but letters, digits and spaces escaped."""
    escaped = "".join(
        char if char.isascii() and (char.isalnum() or char == " ") else f"\\{ord(char):06x}"
        for char in text
    )
    return f'"{escaped}"'


def brand_css(tenant: Tenant) -> str:
    brand = tenant.settings.brand
    rules = []
    if brand.accent:
        on_light, on_dark = link_colours(brand.accent)
        rules.append(
            ":root {\n"
            f"  --accent: {brand.accent};\n"
            f"  --accent-text: {text_on(brand.accent)};\n"
            f"  --link: light-dark({on_light}, {on_dark});\n"
            "}"
        )
    avatar = asset_url(tenant, "avatar")
    if brand.bot_name or avatar:
        # Over each answer: the avatar and the bot's name (screen readers hear the page's
        # own "Assistant:" label instead, hence the empty alternative text).
        name = css_string(brand.bot_name or "")
        declarations = [f'content: {name} / "";']
        if avatar:
            declarations.append(f'background-image: url("{avatar}");')
            declarations.append("padding-left: 2rem;")
        rules.append(".message.assistant::before {\n  " + "\n  ".join(declarations) + "\n}")
    return "\n".join(
        ["/* The brand of this tenant (config.toml [tenants.<slug>.brand]). */", *rules]
    )


async def stylesheet(request: web.Request) -> web.StreamResponse:
    css = brand_css(request[keys.TENANT])
    etag = hashlib.sha256(css.encode()).hexdigest()[:20]
    headers = {"Cache-Control": "no-cache"}
    if any(tag.value == etag for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers=headers)
        response.etag = etag
        return response
    response = web.Response(text=css, content_type="text/css", charset="utf-8", headers=headers)
    response.etag = etag
    return response


async def asset(request: web.Request) -> web.StreamResponse:
    """A brand file of the tenant: 404 for any other name, a file gone, or one of a type or
    size the config would refuse now (the stored path is checked again, not trusted)."""
    name = request.match_info["name"]
    path = asset_path(request[keys.TENANT], name) if name in ASSETS else None
    content_type = BRAND_FILE_TYPES.get(path.suffix.lower()) if path is not None else None
    if path is None or content_type is None or not _servable(path):
        raise errors.NotFound(errors.ROUTE_NOT_FOUND, code="not_found")
    headers = {"Content-Type": content_type, "Cache-Control": ASSET_CACHE}
    if content_type == BRAND_FILE_TYPES[".svg"]:
        headers["Content-Security-Policy"] = SVG_POLICY
    return web.FileResponse(path, headers=headers)


def _servable(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size <= BRAND_FILE_MAX_BYTES
    except OSError:
        return False


async def widget(request: web.Request) -> web.StreamResponse:
    headers = {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": WIDGET_CACHE}
    return web.FileResponse(WIDGET, headers=headers)
