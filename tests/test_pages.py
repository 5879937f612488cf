"""The pages themselves: routes, security headers, the 404 page, texts in both languages, the
SSE reader, the phone layout. (Flows that need chat, cabinet and accounts are in
test_pages_e2e.py.)"""

from __future__ import annotations

import html
import json
import re
import uuid

import aiohttp
import asyncpg
from aiohttp import web
from playwright.async_api import expect
from pytest_aiohttp import AiohttpServer

from cip.db.store import tenants
from cip.slugs import RESERVED_SLUGS, SLUG_PATTERN, WIDGET
from support.browser import PHONE, Browser
from support.database import ROOT
from support.fixtures import Client, NewTenant, StartServer

PAGE_PATHS = [
    "chat",
    "my",
    "my/dialogs",
    "my/dialogs/0b5e7f3c-8a43-4c43-9a59-0f1b0a0f3c11",
    "my/saved",
    "my/profile",
    "register",
    "login",
    "confirm?token=abc",
    "forgot",
    "reset?token=abc",
]
STATIC = ROOT / "static"


def csp_directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


async def test_every_page_is_html_with_the_security_headers(
    client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(
        allowed_origins=["https://shop.example", "https://*.partner.example:8443"]
    )
    for path in PAGE_PATHS:
        response = await client.get(f"/{tenant.slug}/{path}")
        assert response.status == 200, path
        assert response.content_type == "text/html"
        csp = csp_directives(response.headers["Content-Security-Policy"])
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
        assert csp["script-src"] == "'self'"
        assert csp["default-src"] == "'self'"
        assert csp["base-uri"] == "'none'"
        assert (
            csp["frame-ancestors"] == "'self' https://shop.example https://*.partner.example:8443"
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        token_page = path.startswith(("confirm", "reset"))
        assert response.headers["Referrer-Policy"] == (
            "no-referrer" if token_page else "strict-origin-when-cross-origin"
        )
        html = await response.text()
        assert f'data-tenant-id="{tenant.id}"' in html
        assert f'data-slug="{tenant.slug}"' in html
        # No inline script: the only script is the page's module, from /static/.
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all('type="module" src="/static/js/' in tag for tag in scripts)


async def test_frame_ancestors_is_self_without_allowed_origins(
    client: Client, new_tenant: NewTenant
) -> None:
    # A malformed stored origin is dropped rather than written into the header.
    tenant = await new_tenant(
        allowed_origins=["https://ok.example", "https://x.example; script-src *"]
    )
    response = await client.get(f"/{tenant.slug}/chat")
    assert csp_directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == (
        "'self' https://ok.example"
    )
    plain = await new_tenant()
    response = await client.get(f"/{plain.slug}/chat")
    assert (
        csp_directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == "'self'"
    )


async def test_tenant_values_are_escaped_into_the_page(client: Client, pool: asyncpg.Pool) -> None:
    tenant = await tenants.create(
        pool,
        slug=f"t-{uuid.uuid4().hex[:12]}",
        name='<script>alert("name")</script>',
        settings={"locale": "en", "welcome_message": '"><img src=x onerror=alert(1)>'},
    )
    page = await (await client.get(f"/{tenant.slug}/chat")).text()
    assert "<script>alert" not in page and "<img" not in page
    # Quotes are escaped (as &#34;), so each value stays inside its attribute, whole.
    attributes = dict(re.findall(r' data-([a-z-]+)="([^"]*)"', page))
    assert html.unescape(attributes["tenant-name"]) == '<script>alert("name")</script>'
    assert html.unescape(attributes["welcome"]) == '"><img src=x onerror=alert(1)>'
    assert '<html lang="en" data-theme="light">' in page


async def test_unknown_slug_is_a_friendly_404_page(client: Client) -> None:
    for path in ("/no-such-tenant/chat", "/no-such-tenant/my/saved", "/Bad_Slug!/login", "/nope"):
        response = await client.get(path)
        assert response.status == 404, path
        assert response.content_type == "text/html"
        html = await response.text()
        assert "Страница не найдена" in html and "Page not found" in html
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


async def test_slug_root_leads_to_the_chat_and_static_files_are_served(
    client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    response = await client.get(f"/{tenant.slug}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == f"/{tenant.slug}/chat"
    script = await client.get("/static/js/sse.js")
    assert script.status == 200
    assert script.content_type in ("text/javascript", "application/javascript")
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/static/css/app.css")).content_type == "text/css"
    # Templates are the server's own, not static files.
    assert (await client.get("/static/pages/layout.html")).status == 404
    # The API and the probes are not shadowed by the page routes.
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/api/v1/nothing")).content_type == "application/json"


async def test_reserved_slugs_are_the_first_segments_the_service_routes(client: Client) -> None:
    """A tenant with any other slug cannot shadow a route, nor lose its pages to one (`/` and
    `/widget.js` are routed too, but no slug is empty or has a dot)."""
    first_segments = {
        resource.canonical.split("/")[1] for resource in client.app.router.resources()
    }
    assert first_segments - {"{slug}"} == RESERVED_SLUGS | {"", WIDGET}
    assert not SLUG_PATTERN.match(WIDGET)


async def i18n_keys_used(client: aiohttp.ClientSession, base_url: str) -> set[str]:
    """Every text key the pages (as served) and the scripts name literally."""
    keys: set[str] = set()
    for path in PAGE_PATHS:
        async with client.get(f"{base_url}/demo/{path}") as response:
            html = await response.text()
        keys.update(re.findall(r'data-i18n(?:-[a-z]+)?="([^"]+)"', html))
    for script in (STATIC / "js").glob("*.js"):
        keys.update(re.findall(r"\bt\('([a-zA-Z]+\.[a-zA-Z_]+)'", script.read_text()))
    return keys


async def test_every_text_exists_in_both_languages(
    live_server: StartServer, browser: Browser
) -> None:
    server = await live_server()
    page = await browser.new_page()
    await page.goto(f"{server.url}/demo/chat")
    texts = await page.evaluate("import('/static/js/i18n.js').then((m) => m.TEXTS)")
    assert set(texts["ru"]) == set(texts["en"])
    dynamic = {
        f"title.{name}"
        for name in (
            "chat",
            "my",
            "dialogs",
            "dialog",
            "saved",
            "profile",
            "register",
            "login",
            "confirm",
            "forgot",
            "reset",
        )
    } | {f"status.{name}" for name in ("interrupted", "stopped", "error")}
    async with aiohttp.ClientSession() as client:
        used = await i18n_keys_used(client, server.url)
    assert {"field.email", "field.newPassword", "dialogs.empty", "saved.empty"} <= used
    missing = (used | dynamic) - set(texts["ru"])
    assert missing == set()


async def test_pages_speak_the_tenant_language(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    server = await live_server()
    english = await new_tenant(locale="en", welcome_message="Hi! Ask me anything.")
    russian = await new_tenant(locale="ru")
    page = await browser.new_page()
    await page.goto(f"{server.url}/{english.slug}/chat")
    assert await page.get_by_role("button", name="Send").is_visible()
    assert await page.locator(".message.welcome .bubble").inner_text() == "Hi! Ask me anything."
    assert await page.title() == f"Chat · {english.name}"
    await page.goto(f"{server.url}/{russian.slug}/login")
    assert await page.get_by_label("Электронная почта").is_visible()
    assert await page.get_by_label("Пароль").is_visible()
    assert await page.get_by_role("button", name="Войти").is_visible()
    assert browser.errors == []


async def test_every_form_field_has_a_label(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    server = await live_server()
    tenant = await new_tenant(locale="en")
    page = await browser.new_page()
    for path in ("chat", "my/profile", "register", "login", "forgot", "reset?token=x"):
        await page.goto(f"{server.url}/{tenant.slug}/{path}")
        await page.wait_for_load_state("networkidle")
        unlabelled = await page.evaluate("""() => [...document.querySelectorAll('input, textarea')]
            .filter((field) => !field.labels?.length || !field.labels[0].textContent.trim())
            .map((field) => field.id)""")
        assert unlabelled == [], path
    assert browser.errors == []


async def test_the_sse_reader_joins_events_split_anywhere(
    live_server: StartServer, browser: Browser
) -> None:
    server = await live_server()
    page = await browser.new_page()
    await page.goto(f"{server.url}/demo/chat")
    stream = (
        'event: meta\r\ndata: {"dialog_id": "d"}\r\n\r\n: ping\n\n'
        'id: 3\ndata:{"content": "При"}\n\ndata: {"content": "вет\\nмир"}\r\r'
        'event: done\ndata: {"message_id": "m"}\n\ndata: [DONE]\n\nevent: trailing\ndata: x'
    )
    # Every way of cutting the stream in two, and one character at a time.
    result = await page.evaluate(
        """async (stream) => {
        const { parseSse } = await import('/static/js/sse.js');
        const run = (chunks) => {
            let pending = ''; const events = [];
            for (const chunk of chunks) {
                const parsed = parseSse(pending, chunk);
                pending = parsed.pending; events.push(...parsed.events);
            }
            return JSON.stringify(events);
        };
        const whole = run([stream]);
        const cuts = [...Array(stream.length + 1).keys()]
          .map((i) => run([stream.slice(0, i), stream.slice(i)]));
        return {
          whole, splitsAgree: cuts.every((c) => c === whole), byChar: run([...stream]) === whole,
        };
    }""",
        stream,
    )
    assert json.loads(result["whole"]) == [
        {"event": "meta", "data": '{"dialog_id": "d"}', "id": None},
        {"event": "message", "data": '{"content": "При"}', "id": "3"},
        {"event": "message", "data": '{"content": "вет\\nмир"}', "id": None},
        {"event": "done", "data": '{"message_id": "m"}', "id": None},
        {"event": "message", "data": "[DONE]", "id": None},
    ]
    assert result["splitsAgree"] and result["byChar"]


async def test_safe_next_only_follows_this_tenant_pages(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    server = await live_server()
    tenant = await new_tenant()
    page = await browser.new_page()
    await page.goto(f"{server.url}/{tenant.slug}/login")
    cases = {
        f"/{tenant.slug}/my/saved": f"/{tenant.slug}/my/saved",
        f"/{tenant.slug}/chat?dialog=1#end": f"/{tenant.slug}/chat?dialog=1#end",
        "https://evil.example/x": None,
        f"//evil.example/{tenant.slug}/": None,
        f"/\\evil.example/{tenant.slug}/": None,
        "/other-tenant/chat": None,
        f"/{tenant.slug}/../other/chat": None,
        "javascript:alert(1)": None,
    }
    for raw, expected in cases.items():
        # common.js is evaluated in the page, so it sees this tenant in <body>.
        got = await page.evaluate(
            "(raw) => import('/static/js/common.js').then((m) => m.safeNext(raw))", raw
        )
        assert got == expected, raw


async def test_chat_fits_a_phone_without_horizontal_scroll(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    server = await live_server()
    tenant = await new_tenant(
        locale="ru", welcome_message="Здравствуйте! " + "ОченьДлинноеСловоБезПробелов" * 8
    )
    page = await browser.new_page(PHONE)
    for path in ("chat", "my", "my/dialogs", "my/saved", "my/profile", "register", "login"):
        await page.goto(f"{server.url}/{tenant.slug}/{path}")
        await page.wait_for_load_state("networkidle")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    assert browser.errors == []


async def test_keyboard_reaches_the_chat_controls(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    server = await live_server()
    tenant = await new_tenant(locale="en")
    page = await browser.new_page()
    await page.goto(f"{server.url}/{tenant.slug}/chat")
    reached = []
    for _ in range(12):
        await page.keyboard.press("Tab")
        reached.append(
            await page.evaluate(
                "document.activeElement.id || document.activeElement.textContent.trim()"
            )
        )
    assert {
        "Skip to content",
        "Chat",
        "My account",
        "Log in",
        "new-dialog",
        "message",
        "send",
    } <= set(reached)
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focused control is visibly marked


async def test_chat_works_in_an_iframe_only_from_allowed_origins(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant, aiohttp_server: AiohttpServer
) -> None:
    async def embedding_site(request: web.Request) -> web.Response:
        src = html.escape(request.query["src"])
        return web.Response(
            text='<link rel="icon" href="data:,">'
            f'<iframe id="chat" src="{src}" width="400" height="600"></iframe>',
            content_type="text/html",
        )

    host = web.Application()
    host.router.add_get("/", embedding_site)
    host_server = await aiohttp_server(host)
    host_origin = f"http://localhost:{host_server.port}"  # another origin than 127.0.0.1
    server = await live_server()
    allowed = await new_tenant(locale="en", allowed_origins=[host_origin])
    other = await new_tenant(locale="en")
    page = await browser.new_page()

    await page.goto(f"{host_origin}/?src={server.url}/{allowed.slug}/chat")
    frame = page.frame_locator("#chat")
    await expect(frame.get_by_role("button", name="Send")).to_be_visible()
    await expect(frame.locator(".message.welcome")).to_be_visible()
    assert browser.errors == []

    await page.goto(f"{host_origin}/?src={server.url}/{other.slug}/chat")
    await page.wait_for_load_state("load")
    [child] = page.main_frame.child_frames
    assert not child.url.startswith(server.url)  # the browser refused to show it
    assert any("frame-ancestors" in error for error in browser.errors)


async def test_a_wildcard_origin_may_embed_the_chat_and_call_the_api_alike(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant, aiohttp_server: AiohttpServer
) -> None:
    """`http://*.localhost:<port>` (Chromium resolves every `*.localhost` to loopback): a
    subdomain site both embeds the chat and calls the API; the bare `localhost` site, which
    the wildcard does not cover, can do neither."""

    async def embedding_site(request: web.Request) -> web.Response:
        return web.Response(text='<link rel="icon" href="data:,">', content_type="text/html")

    host = web.Application()
    host.router.add_get("/", embedding_site)
    host_server = await aiohttp_server(host)
    server = await live_server()
    tenant = await new_tenant(
        locale="en", allowed_origins=[f"http://*.localhost:{host_server.port}"]
    )
    page = await browser.new_page()
    # Cross-origin, with a guest id header and a JSON body: the browser asks a preflight first.
    call_api = """async ([url, frameSrc]) => {
        const frame = document.createElement('iframe');
        const loaded = new Promise((resolve) => { frame.onload = resolve; });
        frame.src = frameSrc;
        document.body.append(frame);
        await loaded;
        try {
            const response = await fetch(url, {
                method: 'PATCH',
                headers: {'Content-Type': 'application/json', 'X-User-Id': 'wildcard-visitor'},
                body: JSON.stringify({display_name: 'Ann'}),
            });
            return (await response.json()).display_name;
        } catch (error) {
            return 'refused';
        }
    }"""
    api = f"{server.url}/api/v1/tenants/{tenant.id}/me/profile"
    chat = f"{server.url}/{tenant.slug}/chat"
    seen = {}
    for site in ("shop.localhost", "localhost"):
        await page.goto(f"http://{site}:{host_server.port}/")
        called = await page.evaluate(call_api, [api, chat])
        [child] = page.main_frame.child_frames
        embedded = child.url.startswith(server.url)  # else the browser refused to show it
        if embedded:
            await child.locator(".message.welcome").wait_for()
        seen[site] = (embedded, called)
    assert seen == {"shop.localhost": (True, "Ann"), "localhost": (False, "refused")}


async def test_unknown_slug_shows_the_404_page_in_the_browser(
    live_server: StartServer, browser: Browser
) -> None:
    server = await live_server()
    page = await browser.new_page()
    response = await page.goto(f"{server.url}/no-such-company/chat")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Страница не найдена")).to_be_visible()
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert [error for error in browser.errors if "status of 404" not in error] == []
