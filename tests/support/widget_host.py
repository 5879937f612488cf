"""A company's site that embeds the chat with the widget, on another origin than the service:
`http://localhost:<port>` (the service listens on `127.0.0.1`), which Chromium treats as
another origin and another site."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from support.browser import LiveServer

HostSite = Callable[[LiveServer], Awaitable[str]]  # the service -> the site's origin


@pytest.fixture
async def host_site(aiohttp_server: AiohttpServer) -> HostSite:
    """Start a site whose page `/?tenant=<slug>` loads `<service>/widget.js` for that tenant;
    gives the site's origin."""

    async def start(cip: LiveServer) -> str:
        async def shop(request: web.Request) -> web.Response:
            script = html.escape(f"{cip.url}/widget.js")
            slug = html.escape(request.query["tenant"])
            return web.Response(
                text=(
                    '<!doctype html><html lang="en"><head><link rel="icon" href="data:,">'
                    "<title>ACME anvils</title></head>"
                    '<body style="font-family: Georgia, serif; margin: 0">'
                    '<header style="background: #222; color: #fff; padding: 24px 48px">'
                    "<h1>ACME anvils</h1><p>Drop-forged since 1949.</p></header>"
                    '<main style="padding: 24px 48px"><h2>Our range</h2>'
                    "<p>Anvils for every workshop, from 5 to 500 kg.</p></main>"
                    f'<script src="{script}" data-tenant="{slug}" async></script>'
                    "</body></html>"
                ),
                content_type="text/html",
            )

        app = web.Application()
        app.router.add_get("/", shop)
        server = await aiohttp_server(app)
        return f"http://localhost:{server.port}"

    return start
